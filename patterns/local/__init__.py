"""Run synthesized demo stacks on this machine without Docker or an AWS account.

``python -m patterns.local --stack NAME`` reads ``cdk.out``, creates the stateful resources on a
local AWS endpoint (moto's server), serves the REST APIs on 127.0.0.1, runs every function in a
warm worker process and drives the event source mappings. Needs the ``local`` extra:
``pip install "serverless-patterns[local]"``.
"""

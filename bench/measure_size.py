"""4. Asset size: each Lambda function's asset folder zipped as it is uploaded."""

from __future__ import annotations

from pathlib import Path

from benchlib import zip_size
from staging import Handlers

SIZE_TARGET_BYTES = 64 * 1024


def bench_size(handlers: Handlers, scratch: Path) -> dict:
    entries, seen_assets = [], set()
    for function in handlers.functions:
        asset = function["asset_dir"]
        if asset is None or asset in seen_assets:
            continue
        seen_assets.add(asset)
        used_by = [f"{f['stack']}/{f['logical_id']}" for f in handlers.functions if f["asset_dir"] == asset]
        entries.append(
            {
                "function": function["handler"] or f"(not in lambda_src) {asset.name[:18]}",
                "source": f"cdk.out/{asset.name}",
                "used_by": used_by,
                **zip_size(asset, scratch / "zips" / "cdk"),
            }
        )
    staged_names = {e["function"] for e in entries}
    for name in handlers.names:
        if name not in staged_names:
            entries.append(
                {
                    "function": name,
                    "source": f"lambda_src/{name} with ASSET_EXCLUDES (no demo stack stages it)",
                    "used_by": [],
                    **zip_size(handlers.folders[name], scratch / "zips" / "staged"),
                }
            )
    for entry in entries:
        entry["target"] = f"<= {SIZE_TARGET_BYTES} bytes zipped"
        entry["met"] = entry["zipped_bytes"] <= SIZE_TARGET_BYTES
    entries.sort(key=lambda e: e["function"])
    return {
        "method": "Each Lambda function's asset folder in cdk.out (the bundled handlers are plain folders), zipped with deflate level 9.",
        "excludes": handlers.excludes,
        "functions": entries,
        "met": all(e["met"] for e in entries),
    }

"""The printed report and the summary rows of results.json: each measure's numbers against its target."""

from __future__ import annotations

from measure_cold_init import COLD_INIT_RATIO_TARGET
from measure_images import render_images
from measure_size import SIZE_TARGET_BYTES
from measure_synth import SYNTH_RATIO_TARGET
from measure_tests import TESTS_TARGET_S
from measure_warm import SINGLE_WRITE_P50_TARGET


def summary_rows(results: dict) -> list[dict]:
    rows = []
    synth = results.get("synth")
    if synth:
        rows.append(
            {
                "metric": "synth reference/trivial",
                "value": f"{synth['ratio_reference_to_trivial']:.3f}x",
                "target": f"<= {SYNTH_RATIO_TARGET}x",
                "met": synth["met"],
            }
        )
        if synth["reference"] != "same as whole":
            rows.append(
                {
                    "metric": "synth whole/trivial",
                    "value": f"{synth['ratio_whole_to_trivial']:.3f}x",
                    "target": "informational",
                    "met": None,
                }
            )
    tests = results.get("tests")
    if tests and not tests.get("skipped"):
        passed = "" if tests["all_passed"] else " (FAILURES)"
        rows.append(
            {
                "metric": "test suite wall",
                "value": f"{tests['wall_s']['median']:.1f} s{passed}",
                "target": f"< {TESTS_TARGET_S:.0f} s",
                "met": tests["met"],
            }
        )
    cold = results.get("cold_init")
    if cold:
        for name, entry in cold["handlers"].items():
            value = f"{entry['ratio_to_baseline']:.3f}x" if "ratio_to_baseline" in entry else "error"
            rows.append(
                {
                    "metric": f"cold init {name}",
                    "value": value,
                    "target": f"<= {COLD_INIT_RATIO_TARGET}x baseline",
                    "met": entry["met"],
                }
            )
    stream = results.get("stream_aggregator")
    if stream:
        value = "error"
        if "error" not in stream:
            value = f"{stream['records_per_second']:.0f} rec/s, {stream['writes_per_window_key']:.2f} w/window-key"
        target = "1 write per window-key"
        rows.append({"metric": "stream aggregator", "value": value, "target": target, "met": stream["met"]})
    warm = results.get("warm_invocation")
    if warm:
        for name, entry in warm["handlers"].items():
            if entry["met"] is None:
                continue
            rows.append(
                {
                    "metric": f"warm {name} vs raw write",
                    "value": f"{entry['p50_ratio_to_raw']:.2f}x, {entry['dynamodb_requests_per_message']:g} req/msg",
                    "target": f"<= {SINGLE_WRITE_P50_TARGET}x, 1 req/msg",
                    "met": entry["met"],
                }
            )
    size = results.get("size")
    if size:
        for entry in size["functions"]:
            rows.append(
                {
                    "metric": f"asset size {entry['function']}",
                    "value": f"{entry['zipped_bytes'] / 1024:.1f} KiB",
                    "target": "<= 64 KiB",
                    "met": entry["met"],
                }
            )
    images = results.get("images")
    if images:
        memory = images["memory"]
        rows.append(
            {
                "metric": "image processor memory headroom",
                "value": f"{memory['headroom']:.1f}x",
                "target": memory["target"],
                "met": memory["met"],
            }
        )
    return rows


def fmt_spread(summary: dict, unit: str = "s", scale: float = 1.0, digits: int = 2) -> str:
    def f(v):
        return f"{v * scale:.{digits}f}"

    text = f"{f(summary['median'])} {unit} [{f(summary['min'])}-{f(summary['max'])}]"
    if "iqr" in summary:
        text += f" IQR {f(summary['iqr'])}"
    return text


def render(results: dict) -> str:
    out: list[str] = []
    m = results["machine"]
    p = m["packages"]
    out.append("=" * 100)
    out.append(f"serverless-patterns benchmark  {results['generated_at']}  (total {results['duration_s']:.0f} s)")
    out.append(
        f"machine: {m['platform']} | {m['cpu_model'] or m['machine']} | {m['cpu_count']} CPUs ({m['cpus_usable']} usable) | "
        f"{m['python_implementation']} {m['python_version']} | node {m['node_version']}"
    )
    out.append(
        f"load average (1/5/15 min): at start {m.get('load_average_at_start')}, at end {m.get('load_average_at_end')}"
    )
    out.append("packages: " + ", ".join(f"{k} {v}" for k, v in p.items() if v))
    out.append("spread notation: median [min-max] IQR (interquartile range)")

    synth = results.get("synth")
    out.append("")
    out.append("1. SYNTH")
    if synth:
        out.append("   " + synth["method"])
        out.append(
            f"   {'app':<9}{'wall: median [min-max] IQR':<36}{'import':>8}{'build':>8}{'synth':>8}{'start+exit':>12}   (phase medians, s)"
        )
        for kind in ("whole", "trivial", "reference"):
            e = synth[kind]
            if not isinstance(e, dict):
                continue
            ph = e["phases_median_s"]
            out.append(
                f"   {kind:<9}{fmt_spread(e['wall_s']):<36}{ph['import_s']:>8.2f}{ph['build_s']:>8.2f}{ph['synth_s']:>8.2f}{e['startup_and_exit_median_s']:>12.2f}"
            )
            if e["errors"]:
                out.append(f"     synth errors: {e['errors']}")
            if e.get("jsii_round_trips"):
                out.append(f"     jsii round trips (counted): {e['jsii_round_trips']}")
        out.append(
            f"   ratio reference/trivial (medians): {synth['ratio_reference_to_trivial']:.3f}x   target {synth['target']}   "
            f"{'MET' if synth['met'] else 'MISSED'}   ({synth['repeats']} interleaved rounds; reference = "
            f"{'the whole app' if synth['reference'] == 'same as whole' else ', '.join(synth['reference_stacks'])})"
        )
        out.append(
            f"   ratio whole/trivial: {synth['ratio_whole_to_trivial']:.3f}x ({len(synth['demo_stacks'])} demo stacks, "
            f"{synth['seconds_per_demo_stack']:.2f} s per stack beyond the trivial app)"
        )
        out.extend(_synth_profile_lines(synth.get("profile")))
        out.append("   resources per stack (synthesized templates):")
        counts_by_stack = dict(synth["resource_counts"])
        if "resource_counts" in synth["trivial"]:
            counts_by_stack["(trivial app)"] = synth["trivial"]["resource_counts"]
        for stack, counts in counts_by_stack.items():
            top = ", ".join(f"{t.split('::', 1)[1]} {n}" for t, n in list(counts["by_type"].items())[:4])
            built = synth["whole"]["stack_build_median_s"].get(stack)
            build = f"built in {built:.2f} s" if built is not None else ""
            out.append(
                f"     {stack:<22}{counts['resources']:>4} resources, {counts['functions']} functions  {build:<16}({top}, ...)"
            )
    else:
        out.append("   skipped (--skip-synth)")

    cold = results.get("cold_init")
    out.append("")
    out.append("2. COLD INIT (handler module import)")
    if cold:
        out.append("   " + cold["method"])
        out.append(
            f"   {'module':<20}{'import: median [min-max] IQR (ms)':<40}{'ratio':>7}{'paired':>8}{'target':>9}{'met':>6}{'modules':>9}{'xray':>6}{'vs botocore':>13}"
        )
        b = cold["baseline"]
        out.append(
            f"   {'baseline':<20}{fmt_spread(b['import_s'], 'ms', 1000, 0):<40}{'1.000':>7}{'1.000':>8}{'':>9}{'':>6}{b['modules_loaded']:>9}{'no':>6}"
        )
        bb = cold.get("baseline_botocore")
        if bb and "error" not in bb:
            out.append(
                f"   {'baseline (botocore)':<20}{fmt_spread(bb['import_s'], 'ms', 1000, 0):<40}{bb['ratio_to_baseline']:>7.3f}"
                f"{bb['paired_ratio_median'] or 0:>8.3f}{'':>9}{'':>6}{bb['modules_loaded']:>9}{'no':>6}{'1.000':>13}"
            )
        for name, e in cold["handlers"].items():
            if "error" in e:
                out.append(f"   {name:<20}ERROR {e['error']}")
                continue
            out.append(
                f"   {name:<20}{fmt_spread(e['import_s'], 'ms', 1000, 0):<40}{e['ratio_to_baseline']:>7.3f}{e['paired_ratio_median'] or 0:>8.3f}{'<=' + str(COLD_INIT_RATIO_TARGET):>9}"
                f"{'yes' if e['met'] else 'NO':>6}{e['modules_loaded']:>9}{'yes' if e['xray_patched'] else 'no':>6}"
                f"{e.get('ratio_to_botocore_baseline') or 0:>13.3f}"
            )
        out.append(
            f"   ({cold['repeats']} interleaved rounds; 'ratio' = median / baseline median (the target's measure); 'paired' = "
            "median of per-round ratios; 'modules' = modules the import added; 'xray' = botocore patched by X-Ray; "
            "'vs botocore' = median / the botocore-only baseline's median, informational)"
        )
        out.append(
            "   -X importtime, one run each: 10 slowest cumulative imports (ms), the module's direct imports (cumulative ms),"
        )
        out.append("   and the self time (ms) of modules the baseline does not import, by package")
        for name, e in [("baseline", cold["baseline"]), *list(cold["handlers"].items())]:
            report = e.get("importtime")
            if not report:
                continue
            out.append(
                f"   {name}: import {report['total_ms']:.0f} ms under -X importtime, module body {report['module_body_ms']:.0f} ms "
                f"(its own top-level code: clients, Tracer patching, ...), {report['modules_imported']} modules"
            )
            tops = [f"{t['module']} {t['cumulative_ms']:.0f}" for t in report["top_cumulative"]]
            out.append("       top: " + ", ".join(tops[:5]))
            out.append("            " + ", ".join(tops[5:]))
            out.append(
                "       direct imports of the module: "
                + ", ".join(f"{t['module']} {t['cumulative_ms']:.0f}" for t in report["direct_imports"][:6])
            )
            beyond = report["beyond_baseline"]
            if name != "baseline":
                out.append(
                    f"       beyond baseline: {beyond['modules']} modules, {beyond['self_ms']:.0f} ms self: "
                    + ", ".join(f"{k} {v:.0f}" for k, v in beyond["by_package"].items())
                )
    else:
        out.append("   skipped (--skip-cold-init)")

    warm = results.get("warm_invocation")
    out.append("")
    out.append("3. WARM INVOCATION")
    if warm:
        out.append("   " + warm["method"])
        out.append(
            f"   {'handler':<28}{'p50':>8}{'p99':>8}  | {'raw call':<42}{'p50':>8}{'p99':>8}  | {'+p50':>7}{'calls/inv':>10}{'+p50 adj':>10}"
        )
        for name, e in warm["handlers"].items():
            h, r = e["handler"]["latency"], e["raw_call"]["latency"]
            calls = sum(e["handler"]["aws_calls_per_invocation"].values())
            raw_calls = sum(e["raw_call"]["aws_calls_per_invocation"].values())
            label = name + (" (tracing on)" if e["handler"]["tracing_active"] else "")
            adjusted = e["overhead_p50_ms_per_call_adjusted"]
            out.append(
                f"   {label:<28}{h['p50_ms']:>8.3f}{h['p99_ms']:>8.3f}  | {e['raw'][:42]:<42}{r['p50_ms']:>8.3f}{r['p99_ms']:>8.3f}  | "
                f"{e['overhead_p50_ms']:>7.3f}{calls:>6.0f} vs {raw_calls:.0f}{'' if adjusted is None else f'{adjusted:>10.3f}'}"
            )
            if "handler_tracing_disabled" in e:
                u = e["handler_tracing_disabled"]["latency"]
                out.append(
                    f"   {name + ' (tracing off)':<28}{u['p50_ms']:>8.3f}{u['p99_ms']:>8.3f}  | {'(same raw call)':<42}{'':>8}{'':>8}  | {u['p50_ms'] - r['p50_ms']:>7.3f}"
                )
            out.append(
                f"     {e['request']}; AWS calls/invocation: {e['handler']['aws_calls_per_invocation'] or 'none'}"
            )
            if e["met"] is not None:
                out.append(
                    f"     single write: {e['dynamodb_requests_per_message']:g} DynamoDB request(s) per message (counted), "
                    f"p50 {e['p50_ratio_to_raw']:.2f}x / p99 {e['p99_ratio_to_raw']:.2f}x the raw write   target {e['target']}   "
                    f"{'MET' if e['met'] else 'MISSED'}"
                )
            if e["stubbed_with_botocore_stubber"]:
                out.append(
                    f"     STUBBED with botocore Stubber (moto cannot serve them): {', '.join(e['stubbed_with_botocore_stubber'])}"
                )
        for name, reason in warm["skipped"].items():
            out.append(f"   {name}: SKIPPED - {reason}")
        out.append(
            f"   (ms; {warm['invocations']} invocations after {warm['warmup']} warm-up; '+p50' = handler p50 - raw p50; "
            "'+p50 adj' = handler p50 - raw p50 x (handler calls / raw calls), the cost beyond its AWS round trips)"
        )
    else:
        out.append("   skipped (--skip-warm)")

    size = results.get("size")
    out.append("")
    out.append("4. ASSET SIZE")
    if size:
        out.append("   " + size["method"])
        out.append(f"   {'function':<22}{'zipped':>12}{'unzipped':>12}{'files':>7}{'met':>6}   source / used by")
        for e in size["functions"]:
            used = ", ".join(e["used_by"][:3]) + (" ..." if len(e["used_by"]) > 3 else "")
            out.append(
                f"   {e['function']:<22}{e['zipped_bytes']:>10} B{e['unzipped_bytes']:>10} B{e['files']:>7}{'yes' if e['met'] else 'NO':>6}   {e['source']}"
                + (f" <- {used}" if used else "")
            )
        out.append(f"   (target each <= {SIZE_TARGET_BYTES} bytes zipped; excludes {size['excludes']})")

    tests = results.get("tests")
    out.append("")
    out.append("5. TEST SUITE")
    if tests and not tests.get("skipped"):
        out.append("   " + tests["method"])
        for i, e in enumerate(tests["runs"], 1):
            out.append(f"   run {i}: {e['wall_s']:.1f} s, exit {e['exit_code']}: {e['summary']}")
        out.append(
            f"   median {tests['wall_s']['median']:.1f} s over {len(tests['runs'])} run(s)   target {tests['target']}   "
            f"{'MET' if tests['met'] else 'MISSED'}{'' if tests['all_passed'] else '   (the suite did not pass)'}"
        )
    else:
        out.append("   skipped (--skip-tests)")
    if results.get("images"):
        out.extend(render_images(results["images"]))

    stream = results.get("stream_aggregator")
    out.append("")
    out.append("6. STREAM AGGREGATOR")
    if stream and "error" not in stream:
        out.append("   " + stream["method"])
        out.append(
            f"   {stream['records_per_second']:.0f} records/s folded; {stream['writes_per_window']:.0f} DynamoDB writes per "
            f"window ({stream['writes_per_window_key']:.2f} per window-key), final invocation "
            f"{stream['final_invocation_s'] * 1000:.0f} ms; replayed window added {stream['replay_writes_landed']}   "
            f"target {stream['target']}   {'MET' if stream['met'] else 'MISSED'}"
        )
    else:
        out.append(f"   {stream['error'] if stream else 'skipped (--skip-stream)'}")

    out.append("")
    out.append("SUMMARY")
    for row in results["summary"]:
        met = "-" if row["met"] is None else "MET" if row["met"] else "MISSED"
        out.append(f"   {row['metric']:<34}{row['value']:>16}   target {row['target']:<20}{met}")
    for note in results["notes"]:
        out.append(f"   note: {note}")
    out.append(f"results written to {results['output']}")
    out.append("=" * 100)
    return "\n".join(out)


def _synth_profile_lines(profile: dict | None) -> list[str]:
    """The Node process's CPU time per part of the work, one column per app (bench/synth_profile.py)."""
    if not profile:
        return []
    kinds = [kind for kind in ("whole", "reference", "trivial") if isinstance(profile.get(kind), dict)]
    out = ["   where the time goes (one profiled, untimed run per app; Node CPU ms per part):"]
    for kind in kinds:
        if "error" in profile[kind]:
            out.append(f"     {kind}: profile failed ({profile[kind]['error']})")
    kinds = [kind for kind in kinds if "node_ms_by_part" in profile[kind]]
    if not kinds:
        return out
    parts = list(dict.fromkeys(part for kind in kinds for part in profile[kind]["node_ms_by_part"]))
    out.append(f"     {'part':<48}" + "".join(f"{kind:>11}" for kind in kinds))
    for part in parts:
        out.append(
            f"     {part:<48}" + "".join(f"{profile[kind]['node_ms_by_part'].get(part, 0):>11.0f}" for kind in kinds)
        )
    out.append(f"     {'total':<48}" + "".join(f"{profile[kind]['node_ms_total']:>11.0f}" for kind in kinds))
    for kind in kinds:
        entry = profile[kind]
        if entry.get("python_alarm_routing_visits"):
            out.append(
                f"     {kind}: alarm routing's {entry['python_alarm_routing_visits']} visits took "
                f"{entry['python_alarm_routing_s'] * 1000:.0f} ms in Python (inside the Aspects part)"
            )
    return out

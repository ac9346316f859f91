#!/usr/bin/python3
"""Execute notebooks headless with Jupyter's own executor (nbclient), or play a
scripted kernel session (with interrupts) through jupyter_client.

  run_notebooks.py run [--out DIR] [--report FILE] [--timeout S] [--kernel NAME] NOTEBOOK...
      Executes every notebook top to bottom in its own folder; fails (exit 1) on
      any cell error. With --out, writes the executed copies (with outputs) there.

  run_notebooks.py session --spec FILE [--kernel NAME]
      Runs the steps of a JSON spec in one kernel started in spec["cwd"]:
      [{"code": ..., "interrupt_when_exists": path?, "timeout": s?}], and prints a
      JSON report: per step the reply status, the error (ename/evalue/traceback),
      stdout/stderr text, the display messages seen (counts, and the last
      text/plain of each display_id: what the front end shows), and whether the
      kernel was still alive after the step.

The kernel (default "smear-ts") must be registered where Jupyter looks
(JUPYTER_PATH); the node tests register it into a temporary prefix.
"""
import argparse
import json
import os
import sys
import time
import queue

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from jupyter_client.manager import KernelManager
except ImportError as e:  # pragma: no cover
    sys.stderr.write(
        "run_notebooks.py: Jupyter's Python packages are missing (%s).\n"
        "Install them with: sudo apt-get install -y jupyter-nbconvert python3-nbclient python3-ipykernel\n" % e
    )
    sys.exit(3)


def run_notebooks(args):
    report = []
    failed = False
    for path in args.notebooks:
        path = os.path.abspath(path)
        nb = nbformat.read(path, as_version=4)
        t0 = time.time()
        client = NotebookClient(
            nb,
            timeout=args.timeout,
            kernel_name=args.kernel,
            resources={"metadata": {"path": os.path.dirname(path)}},
            allow_errors=False,
        )
        entry = {"notebook": os.path.basename(path), "ok": True}
        try:
            client.execute()
        except CellExecutionError as e:
            entry["ok"] = False
            entry["error"] = str(e)[-6000:]
        except Exception as e:  # kernel died, timeout, …
            entry["ok"] = False
            entry["error"] = "%s: %s" % (type(e).__name__, str(e)[-4000:])
        entry["seconds"] = round(time.time() - t0, 1)
        mimes = {}
        errors = 0
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    errors += 1
                for m in out.get("data", {}) or {}:
                    mimes[m] = mimes.get(m, 0) + 1
        entry["mime_counts"] = mimes
        entry["error_outputs"] = errors
        entry["code_cells"] = sum(1 for c in nb.cells if c.cell_type == "code")
        entry["executed_cells"] = sum(1 for c in nb.cells if c.cell_type == "code" and c.get("execution_count"))
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            nbformat.write(nb, os.path.join(args.out, os.path.basename(path)))
        status = "ok" if entry["ok"] else "FAILED"
        sys.stderr.write("[notebooks] %s: %s in %.1f s\n" % (entry["notebook"], status, entry["seconds"]))
        if not entry["ok"]:
            sys.stderr.write(entry["error"] + "\n")
            failed = True
        report.append(entry)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    return 1 if failed else 0


def run_session(args):
    with open(args.spec) as f:
        spec = json.load(f)
    km = KernelManager(kernel_name=args.kernel)
    km.start_kernel(cwd=spec.get("cwd") or os.getcwd())
    kc = km.client()
    kc.start_channels()
    results = []
    try:
        kc.wait_for_ready(timeout=120)
        for step in spec["steps"]:
            timeout = step.get("timeout", 300)
            msg_id = kc.execute(step["code"])
            res = {"status": None, "stdout": "", "stderr": "", "displays": 0, "updates": 0, "shown": {}, "interrupted_at": None, "error": None}
            t0 = time.time()
            done = False
            while not done:
                if time.time() - t0 > timeout:
                    res["status"] = "timeout"
                    break
                path = step.get("interrupt_when_exists")
                if path and res["interrupted_at"] is None and os.path.exists(path):
                    time.sleep(step.get("interrupt_delay", 0))
                    km.interrupt_kernel()
                    res["interrupted_at"] = round(time.time() - t0, 2)
                try:
                    msg = kc.get_iopub_msg(timeout=0.2)
                except queue.Empty:
                    if not km.is_alive():
                        res["status"] = "dead"
                        break
                    continue
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                t = msg["msg_type"]
                c = msg["content"]
                if t == "stream":
                    res[c["name"]] += c["text"]
                elif t in ("display_data", "update_display_data"):
                    res["displays" if t == "display_data" else "updates"] += 1
                    did = (c.get("transient") or {}).get("display_id")
                    if did:
                        res["shown"][did] = (c.get("data") or {}).get("text/plain")
                elif t == "error":
                    res["error"] = {"ename": c.get("ename"), "evalue": c.get("evalue")}
                elif t == "status" and c["execution_state"] == "idle":
                    done = True
            if res["status"] not in ("timeout", "dead"):
                reply = kc.get_shell_msg(timeout=30)
                while reply["parent_header"].get("msg_id") != msg_id:
                    reply = kc.get_shell_msg(timeout=30)
                res["status"] = reply["content"]["status"]
                if res["error"] is None and reply["content"].get("ename"):
                    res["error"] = {"ename": reply["content"].get("ename"), "evalue": reply["content"].get("evalue")}
            res["seconds"] = round(time.time() - t0, 2)
            res["alive"] = km.is_alive()
            results.append(res)
            if res["status"] == "error":
                # tslab aborts requests that arrive within 200 ms of a failed one (tslab issue #19).
                time.sleep(0.5)
            if res["status"] == "timeout" or not res["alive"]:
                break
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    json.dump(results, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("notebooks", nargs="+")
    r.add_argument("--out")
    r.add_argument("--report")
    r.add_argument("--timeout", type=int, default=900)
    r.add_argument("--kernel", default="smear-ts")
    s = sub.add_parser("session")
    s.add_argument("--spec", required=True)
    s.add_argument("--kernel", default="smear-ts")
    args = ap.parse_args()
    return run_notebooks(args) if args.cmd == "run" else run_session(args)


if __name__ == "__main__":
    sys.exit(main())

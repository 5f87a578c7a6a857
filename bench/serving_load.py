#!/usr/bin/env python3
"""Serving benchmark: wordbridge-server under concurrent load, driven by `wordbridge load`.

Runs, each phase with the machine to itself (no build or test beside it):
  1. offline batch-64 throughput (`wordbridge eval --batch 64`), the figure batching should approach;
  2. 1, 2, 4, 8, 16, 64 clients each sending one sentence per call, with default flags;
     at 64 clients, NearestWords queries run beside the translations (their p99 must stay small);
  3. 16 clients against the same server with batching off (batch 1, no batch timeout);
  4. overload: twice the measured capacity offered open-loop with 2 s deadlines;
  5. Translate latency while a training job runs, against the same load without it;
  6. a soak at capacity (default 5 minutes), sampling the server's RSS.

usage: bench/serving_load.py --model-dir DIR --model NAME --test TSV [--duration 20] [--soak 300]
           [--out bench/results/serving-DATE.txt] [--data-dir DIR --train-corpus REL]
The model directory must hold a trained model NAME (e.g. the Bible attention model of bench/run-bible).
"""
import argparse
import datetime
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """wordbridge-server on free ports; stopped with SIGTERM."""

    def __init__(self, build, model_dir, data_dir, extra):
        self.port, self.metrics_port = free_port(), free_port()
        args = [os.path.join(build, "wordbridge-server"), "--host", "127.0.0.1", "--port", str(self.port),
                "--model-dir", model_dir, "--metrics-port", str(self.metrics_port), "--drain-seconds", "0",
                "--reload-seconds", "0"] + extra
        if data_dir:
            args += ["--data-dir", data_dir]
        self.log = tempfile.NamedTemporaryFile(prefix="wb-server-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.flags = " ".join(extra) or "(defaults)"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.metrics_port, timeout=1) as r:
                    if r.status == 200:
                        return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError("server did not become ready; log: " + self.log.name)

    def address(self):
        return "127.0.0.1:%d" % self.port

    def rss_mib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return 0.0

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=5) as r:
            return r.read().decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def cli(build, server, *args):
    out = subprocess.run([os.path.join(build, "wordbridge"), "--server", server.address(), "--timeout", "600"] +
                         list(args), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("wordbridge %s failed: %s" % (" ".join(args), out.stderr))
    return out.stdout


def load(build, server, inputs, model, **kw):
    args = ["load", "--model", model, "--input", inputs, "--json"]
    for key, value in kw.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    report = json.loads(cli(build, server, *args))
    ok = report["status_counts"].get("OK", 0)
    per_call = kw.get("sentences_per_call", 1)
    report["ok_sentences_per_second"] = ok * per_call / max(report["elapsed_seconds"], 1e-9)
    return report


def row(label, r):
    codes = ", ".join("%s %d" % kv for kv in sorted(r["status_counts"].items()))
    return "%-34s %9.1f %9.1f %9.1f %9.1f %9.1f   %s" % (
        label, r["ok_sentences_per_second"], r["latency_p50_ms"], r["latency_p99_ms"], r["latency_p999_ms"],
        r["latency_max_ms"], codes)


HEADER = "%-34s %9s %9s %9s %9s %9s   %s" % ("", "sent/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "statuses")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--model", default="es-en")
    ap.add_argument("--test", required=True, help="TSV whose source side is the load's sentences")
    ap.add_argument("--duration", type=float, default=20, help="seconds per load phase")
    ap.add_argument("--soak", type=float, default=300, help="seconds of the RSS soak at capacity (0 = skip)")
    ap.add_argument("--data-dir", help="server data dir, for the training-beside-serving phase")
    ap.add_argument("--train-corpus", help="corpus under --data-dir to train on during that phase")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results",
                                                  "serving-%s.txt" % datetime.date.today().isoformat()))
    a = ap.parse_args()

    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    sources = tempfile.NamedTemporaryFile("w", prefix="wb-load-", suffix=".txt", delete=False)
    with open(a.test) as f:
        for line in f:
            src = line.rstrip("\n").split("\t")[0]
            if src:
                sources.write(src + "\n")
    sources.close()
    words = tempfile.NamedTemporaryFile("w", prefix="wb-words-", suffix=".txt", delete=False)
    words.write("dios\ntierra\nrey\ncasa\nhijo\npadre\nagua\noro\n")
    words.close()

    say("# wordbridge serving benchmark")
    say("date: %s" % datetime.datetime.now().isoformat(timespec="seconds"))
    cpu = re.sub(r"\s+", " ", subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"],
                                              capture_output=True, text=True).stdout.strip())
    say("machine: %s, %d cores, %s" % (cpu, os.cpu_count(), platform.platform()))
    say("command: bench/serving_load.py " + " ".join(sys.argv[1:]))
    say("model: %s from %s; load: one sentence per call from %s" % (a.model, a.model_dir, a.test))
    say()

    server = Server(a.build, a.model_dir, a.data_dir, [])
    try:
        say("server flags: " + server.flags)
        ev = cli(a.build, server, "eval", "--model", a.model, "--test", a.test, "--batch", "64")
        offline = float(re.search(r"([0-9.]+) sentences/s", ev).group(1))
        say("offline, wordbridge eval --batch 64: %.1f sentences/s (%s)" % (offline, ev.strip().replace("\n", "; ")))
        say()
        say(HEADER)
        results = {}
        nearest = {}
        for clients in (1, 2, 4, 8, 16, 64):
            if clients == 64:
                holder = {}
                t = threading.Thread(target=lambda: holder.update(r=load(
                    a.build, server, words.name, a.model, rpc="nearest", concurrency=1, rate=50,
                    duration=a.duration)))
                t.start()
            results[clients] = load(a.build, server, sources.name, a.model, concurrency=clients,
                                    duration=a.duration)
            if clients == 64:
                t.join()
                nearest = holder["r"]
            say(row("%d client(s)" % clients, results[clients]))
        say(row("NearestWords beside 64 clients", nearest))
        say()
        capacity = results[64]["ok_sentences_per_second"]
        throughputs = [results[c]["ok_sentences_per_second"] for c in (1, 2, 4, 8, 16, 64)]
        monotone = all(b >= 0.95 * x for x, b in zip(throughputs, throughputs[1:]))
        say("no collapse (each step >= 95%% of the previous): %s" % ("yes" if monotone else "NO"))
        say("64 clients vs offline batch 64: %.1f / %.1f = %.2f (target >= 0.85)" % (
            capacity, offline, capacity / offline))
        say("NearestWords p99 under 64-client load: %.2f ms (target < 5)" % nearest["latency_p99_ms"])

        say()
        # Open loop: enough callers that the offered rate holds even when every call waits its full
        # deadline (otherwise the callers, not the rate, would bound the load).
        callers = int(2 * capacity * 2) + 64
        say("overload: %.0f calls/s offered (2x capacity), %d callers, 2 s deadline" % (2 * capacity, callers))
        over = load(a.build, server, sources.name, a.model, concurrency=callers, rate=int(2 * capacity),
                    duration=a.duration, deadline=2)
        say(HEADER)
        say(row("2x capacity", over))
        say("admitted calls within 2 s: max %.0f ms; statuses %s" % (over["latency_max_ms"], over["status_counts"]))

        if a.data_dir and a.train_corpus:
            say()
            say("Translate latency with a training job running (4 clients; training: 1 thread)")
            quiet = load(a.build, server, sources.name, a.model, concurrency=4, duration=a.duration)
            trainer = subprocess.Popen(
                [os.path.join(a.build, "wordbridge"), "--server", server.address(), "train", "--model",
                 "bench-training", "--server-corpus", a.train_corpus, "--batch-tokens", "2500", "--max-minutes",
                 str(max(1.0, 2 * a.duration / 60))],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(15)  # the job reads the corpus and trains its tokenizer first
            busy = load(a.build, server, sources.name, a.model, concurrency=4, duration=a.duration)
            trainer.send_signal(signal.SIGINT)
            trainer.wait()
            say(HEADER)
            say(row("4 clients, no training", quiet))
            say(row("4 clients, training beside", busy))

        if a.soak > 0:
            say()
            say("soak: %.0f s at capacity (%.0f calls/s offered, 64 callers), RSS every 10 s" % (a.soak, capacity))
            samples = []
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    samples.append(server.rss_mib())
                    stop.wait(10)

            sampler = threading.Thread(target=sample)
            sampler.start()
            soak = load(a.build, server, sources.name, a.model, concurrency=64, rate=int(capacity),
                        duration=a.soak)
            stop.set()
            sampler.join()
            say(HEADER)
            say(row("soak", soak))
            warm = samples[1:] or samples
            say("RSS MiB: first %.0f, min %.0f, max %.0f, last %.0f; spread after the first sample %.1f%% "
                "(target <= 10%%)" % (samples[0], min(warm), max(warm), samples[-1],
                                      100 * (max(warm) - min(warm)) / min(warm)))
    finally:
        server.stop()

    say()
    say("batching off: --max-batch-sentences 1 --batch-timeout-micros 0")
    server = Server(a.build, a.model_dir, None, ["--max-batch-sentences", "1", "--batch-timeout-micros", "0"])
    try:
        off = load(a.build, server, sources.name, a.model, concurrency=16, duration=a.duration)
        say(HEADER)
        say(row("16 clients, batching off", off))
        say("16 clients, batching on vs off: %.1f / %.1f = %.2fx (target >= 4x)" % (
            results[16]["ok_sentences_per_second"], off["ok_sentences_per_second"],
            results[16]["ok_sentences_per_second"] / max(off["ok_sentences_per_second"], 1e-9)))
    finally:
        server.stop()

    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("report: " + a.out)


if __name__ == "__main__":
    main()

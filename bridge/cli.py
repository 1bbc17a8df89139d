"""`als-bridge`: run the bridge, check or print a config, or start the local demo.

    als-bridge --config FILE            run (same as `als-bridge run --config FILE`)
    als-bridge validate --config FILE   exit 0 and a summary, or 1 and the error on stderr
    als-bridge print-config --config FILE
    als-bridge demo [--duration S] [--rate N] [--otlp-endpoint H:P] [--otlp-http URL] [--report FILE] ...

`main` returns the exit code instead of exiting, so tests call it directly. The runtime and the
demo are imported only by the commands that need them: `validate` must work, and stay fast,
where those cannot even import (no Envoy binary, no network).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

import yaml

from bridge.components import load_config
from bridge.config import Config, ConfigError, redacted

_COMMANDS = ("run", "validate", "print-config", "demo")


def _version() -> str:
    try:
        return metadata.version("als-bridge")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="als-bridge",
        description="Envoy access logs (ALS) in; OpenTelemetry traces, metrics and logs out.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    # Top-level --config runs the bridge; its own dest so a subcommand's default cannot clobber it.
    parser.add_argument("--config", dest="top_config", metavar="FILE", help="run the bridge with this config")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in (
        ("run", "run the bridge (the default)"),
        ("validate", "check a config and summarise its pipelines"),
        ("print-config", "print the config with defaults filled in and secrets redacted"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--config", metavar="FILE", help="the config file (YAML)")
    demo = commands.add_parser(
        "demo",
        help="start a small mesh of real Envoy sidecars that reports to a bridge, and show what it made",
        description="A small Online-Boutique-shaped mesh of real Envoy sidecars (Kubernetes pods, VMs, an "
        "ingress gateway, gRPC, TCP, an external service) on 127.0.0.1 with steady traffic; a live view, a "
        "summary and demo-report.html, all from what the bridge exported.",
    )
    demo.add_argument(
        "--duration",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to send traffic (default 60; 0: until Ctrl-C)",
    )
    demo.add_argument(
        "--rate", type=float, default=4.0, metavar="N", help="user visits per second (default 4)"
    )
    demo.add_argument(
        "--report", default="demo-report.html", metavar="FILE", help="where to write the report"
    )
    demo.add_argument(
        "--otlp-endpoint",
        metavar="HOST:PORT",
        help="also export everything over OTLP/gRPC to your Jaeger, Tempo or Collector (plaintext)",
    )
    demo.add_argument("--otlp-tls", action="store_true", help="use TLS to --otlp-endpoint")
    demo.add_argument(
        "--otlp-http",
        metavar="URL",
        help="also export everything over OTLP/HTTP (e.g. http://localhost:4318)",
    )
    demo.add_argument("--plain", action="store_true", help="plain lines instead of the live view")
    demo.add_argument(
        "--reporters",
        choices=("both", "server_side"),
        default="both",
        help="both: every sidecar reports (Istio's default); server_side: only inbound entries",
    )
    demo.add_argument(
        "--verbosity",
        choices=("basic", "normal", "detailed"),
        default=None,
        help="also print every span with the debug exporter at this verbosity (the view turns plain)",
    )
    demo.add_argument("--logs", action="store_true", help="also run a logs pipeline (one record per entry)")
    demo.add_argument(
        "--metrics",
        action="store_true",
        help="also serve the prometheus exporter and print its series at the end",
    )
    demo.add_argument(
        "--classic",
        action="store_true",
        help="the earlier two-sidecar demo that prints each span (uses --requests)",
    )
    demo.add_argument(
        "--requests", type=int, default=2, metavar="N", help="--classic: rounds of sample traffic (default 2)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]) and run the command; returns the process exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse has printed already
        return exc.code if isinstance(exc.code, int) else 2
    command: str = args.command or "run"
    if command == "demo":
        return _demo(args)
    path: str | None = getattr(args, "config", None) or args.top_config
    if path is None:
        if args.command is None:
            parser.print_help(sys.stderr)
        else:
            print(f"als-bridge {command}: --config FILE is required", file=sys.stderr)
        return 2
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"{path}: warning: {warning}", file=sys.stderr)
    if command == "validate":
        print(f"{path}: ok")
        print(summary(config))
        return 0
    if command == "print-config":
        sys.stdout.write(yaml.safe_dump(redacted(config), sort_keys=False, allow_unicode=True))
        return 0
    from bridge import service  # the runtime: imported only to run it

    return service.run(config)


def summary(config: Config) -> str:
    """One line: `2 pipelines: traces: envoy_als -> batch -> otlp, debug; logs: envoy_als -> otlphttp`."""
    parts = []
    for pipeline_id, pipeline in config.service.pipelines.items():
        stages = [pipeline.receivers, *([p] for p in pipeline.processors), pipeline.exporters]
        chain = " -> ".join(", ".join(str(i) for i in stage) for stage in stages)
        parts.append(f"{pipeline_id}: {chain}")
    count = len(parts)
    line = f"{count} pipeline{'s' if count != 1 else ''}: {'; '.join(parts)}"
    if config.service.extensions:
        line += f"; extensions: {', '.join(str(e) for e in config.service.extensions)}"
    return line


def _demo(args: argparse.Namespace) -> int:
    """Hand `args` (with `.reporters` and `.requests`) to the demo, imported only now."""
    demo = importlib.import_module("bridge.demo")
    run_demo: Callable[[argparse.Namespace], int] = demo.main
    return run_demo(args)

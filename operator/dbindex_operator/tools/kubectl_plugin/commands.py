"""The subcommands of `kubectl dbindex`: read through cluster.Kubectl, render through
rendering/describing (pure) or terminal (rich, on a TTY), return the exit code."""

from __future__ import annotations

import argparse
import datetime
import time
from collections.abc import Callable
from typing import Final, TextIO

from dbindex_operator.core import settings
from dbindex_operator.tools.kubectl_plugin import cluster, describing, rendering

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_KUBECTL: Final = 3


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    flags: list[str] = []
    if args.context:
        flags += ["--context", args.context]
    if args.kubeconfig:
        flags += ["--kubeconfig", args.kubeconfig]
    kubectl = cluster.Kubectl(tuple(flags))
    commands: dict[str, Callable[[cluster.Kubectl, argparse.Namespace, TextIO], int]] = {
        "status": status,
        "describe": describe,
        "retry": retry,
        "pause": pause,
        "resume": resume,
    }
    try:
        return commands[args.command](kubectl, args, stdout)
    except cluster.ClusterError as exc:
        print(f"kubectl dbindex: {exc}", file=stderr)
        return EXIT_KUBECTL
    except KeyboardInterrupt:
        return 130


def status(kubectl: cluster.Kubectl, args: argparse.Namespace, stdout: TextIO) -> int:
    def rows() -> list[rendering.Row]:
        objects = kubectl.objects(args.namespace, args.all_namespaces, args.selector)
        moment = now()
        return [rendering.row(obj, moment) for obj in objects]

    if args.output == "json":
        return _watch_json(rows, args, stdout) if args.watch else _print_json(rows(), stdout)
    if stdout.isatty():
        return _rich(rows, args)
    if not args.watch:
        stdout.write(_plain(rows(), args))
        return EXIT_OK
    # Not a terminal: print the table again whenever it changes (a log of the build).
    last = None
    while True:
        current = rows()
        text = _plain(current, args)
        if text != last:
            stdout.write(("\n" if last is not None else "") + text)
            stdout.flush()
            last = text
        verdict = rendering.verdict(current)
        if verdict is not None:
            return verdict
        time.sleep(args.interval)


def _plain(rows: list[rendering.Row], args: argparse.Namespace) -> str:
    if not rows:
        return "No DatabaseIndex objects found.\n"
    return rendering.plain_table(rows, all_namespaces=args.all_namespaces)


def _print_json(rows: list[rendering.Row], stdout: TextIO) -> int:
    stdout.write(rendering.json_document(rows))
    return EXIT_OK


def _watch_json(
    rows: Callable[[], list[rendering.Row]], args: argparse.Namespace, stdout: TextIO
) -> int:
    """One JSON document per line per refresh, until the verdict."""
    while True:
        current = rows()
        stdout.write(rendering.json_document(current))
        stdout.flush()
        verdict = rendering.verdict(current)
        if verdict is not None:
            return verdict
        time.sleep(args.interval)


def _rich(rows: Callable[[], list[rendering.Row]], args: argparse.Namespace) -> int:
    from rich.live import Live

    from dbindex_operator.tools.kubectl_plugin import terminal

    console = terminal.console()
    current = rows()
    view = terminal.table(current, all_namespaces=args.all_namespaces)
    if not args.watch:
        console.print(view)
        return EXIT_OK
    with Live(view, console=console, auto_refresh=False) as live:
        while (verdict := rendering.verdict(current)) is None:
            time.sleep(args.interval)
            current = rows()
            live.update(terminal.table(current, all_namespaces=args.all_namespaces), refresh=True)
    return verdict


def describe(kubectl: cluster.Kubectl, args: argparse.Namespace, stdout: TextIO) -> int:
    obj = kubectl.get(args.namespace, args.name)
    metadata = obj.get("metadata") or {}
    events = kubectl.events(str(metadata.get("namespace")), args.name)
    stdout.write(describing.describe(obj, events, now()))
    return EXIT_OK


def retry(kubectl: cluster.Kubectl, args: argparse.Namespace, stdout: TextIO) -> int:
    """A new value of the retry annotation: the operator starts a fresh series of attempts
    (status.retryToken records the value it acted on). Microseconds, so two retries within a
    second are still two values."""
    token = now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kubectl.annotate(args.namespace, args.name, settings.RETRY_ANNOTATION, token)
    print(f"{args.name}: {settings.RETRY_ANNOTATION}={token}: retry requested", file=stdout)
    return EXIT_OK


def pause(kubectl: cluster.Kubectl, args: argparse.Namespace, stdout: TextIO) -> int:
    kubectl.merge_patch(args.namespace, args.name, {"spec": {"paused": True}})
    print(f"{args.name}: paused (status.plan shows what would run)", file=stdout)
    return EXIT_OK


def resume(kubectl: cluster.Kubectl, args: argparse.Namespace, stdout: TextIO) -> int:
    kubectl.merge_patch(args.namespace, args.name, {"spec": {"paused": False}})
    print(f"{args.name}: resumed", file=stdout)
    return EXIT_OK

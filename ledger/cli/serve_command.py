"""``ledger serve``: the read-only web console (``ledger.web``), started from the command line."""

from __future__ import annotations

import click

from ledger.app.console import ConsoleReads
from ledger.app.failures import mask_url
from ledger.cli.app import StaysUp, open_ledger
from ledger.web.security import MIN_TOKEN_LENGTH, TokenRefused, is_loopback, read_token

__all__ = ["COMMANDS"]


@click.command(cls=StaysUp)  # keeps the interpreter's collector schedule (``ledger.gc_policy``)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address needs --token-file.")
@click.option("--port", type=click.IntRange(min=1, max=65535), default=8000, show_default=True)
@click.option("--token-file", type=click.Path(dir_okay=False), default=None,
              help=f"A file whose first line (at least {MIN_TOKEN_LENGTH} characters) every request must carry as "
                   "`Authorization: Bearer TOKEN` (or enter once in the login form).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token_file: str | None) -> None:
    """Serve the read-only web console on HOST:PORT (loopback by default) until interrupted.

    Pages for the overview, accounts, one account, each engine decision, markets, the engine's records, rules,
    balances, reconcile (upload a statement) and what-if (queued runs), each at an as-of and known-at point and
    with JSON/CSV downloads of exactly what the CLI prints. It never writes to the ledger. See docs/console.md.
    """
    if token_file is None and not is_loopback(host):
        raise click.UsageError(
            f"--host {host} is not a loopback address: anyone who can reach it would read the ledger. Give "
            "--token-file FILE (a secret every request must carry), or serve on 127.0.0.1 (the default)")
    token = None
    if token_file is not None:
        try:
            token = read_token(token_file)
        except TokenRefused as exc:
            raise click.UsageError(str(exc)) from None
    from ledger.web import serve as run  # the web stack loads for this command only

    with open_ledger(ctx) as ledger:
        head = ConsoleReads(ledger).head()  # the schema checked now (exit 2 when it is not this code's)
        shown = f"[{host}]" if ":" in host else host
        guard = ", token required" if token else ""
        click.echo(f"ledger console on http://{shown}:{port}/ over {mask_url(ledger.url)} at event #{head['seq']} "
                   f"(read-only{guard}); Ctrl-C stops it", err=True)
        run(ledger, host=host, port=port, token=token, scale_overrides=ctx.obj["scales"])


COMMANDS = (serve,)

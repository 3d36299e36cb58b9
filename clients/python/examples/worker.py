"""A worker: takes jobs from one stream, publishes results to another, and survives restarts.

    python examples/worker.py jobs results            # ternd on 127.0.0.1:7400
    python examples/worker.py --data /var/lib/ternd/ternd.sock jobs results

Create the streams first (``tern streams create --unique-name jobs`` or the REST API), then send
jobs: ``tern pub jobs '{"id": 1, "numbers": [1, 2, 3]}'``. Each job's result, ``{"id": 1,
"sum": 6, "job_sid": "TZ…"}``, goes to the results stream. After a reconnect the worker resumes
after the last job it received (the server replays what it still holds); lost jobs (the worker
fell behind, or the server no longer held them) are reported, never silent. Stop it with Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from typing import Any, Dict, Optional

from tern_client import (
    Connection,
    ConnectionState,
    Dropped,
    DropReason,
    Message,
    Resubscribed,
    StreamEnded,
    TernError,
)

log = logging.getLogger("worker")


def handle(job: Dict[str, Any]) -> Dict[str, Any]:
    numbers = job.get("numbers", [])
    return {"id": job.get("id"), "sum": sum(n for n in numbers if isinstance(n, (int, float)))}


async def run(address: str, token: str, jobs: str, results: str) -> int:
    def on_state(state: ConnectionState, error: Optional[BaseException]) -> None:
        log.info("connection %s%s", state.value, f" ({error})" if error else "")

    async with Connection.open(address, token=token, client_name="example-worker", on_state_change=on_state) as conn:
        inbox = await conn.subscribe(jobs)
        outbox = await conn.attach(results)
        log.info("working on %s (%s), results to %s", jobs, inbox.stream_sid, results)
        done = 0
        try:
            async for event in inbox:
                if isinstance(event, Message):
                    try:
                        result = handle(event.json())
                    except ValueError:
                        log.warning("job %s is not valid JSON; skipped", event.sid)
                        continue
                    result["job_sid"] = event.sid
                    await outbox.publish(result, ack=False)  # fire and forget; errors reach on_error
                    done += 1
                elif isinstance(event, Dropped):
                    why = "no longer held by the server" if event.reason == DropReason.NOT_RETAINED else "fell behind"
                    log.warning("lost %d jobs (%s)", event.count, why)
                elif isinstance(event, Resubscribed):
                    if event.server_restarted:
                        log.warning("ternd restarted; jobs published before the restart and not seen are lost")
                    elif event.resumed:
                        log.info("resumed after job %d; missed jobs are replayed", event.last_sequence)
                    elif event.missed:
                        log.warning("lost %d jobs while reconnecting", event.missed)
        except StreamEnded as ended:
            log.info("%s; %d jobs done", ended, done)
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jobs", help="stream to take jobs from")
    parser.add_argument("results", help="stream to publish results to")
    parser.add_argument("--data", default=os.environ.get("TERN_DATA", "127.0.0.1:7400"))
    parser.add_argument("--auth-token", default=os.environ.get("TERN_AUTH_TOKEN", ""))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def main_task() -> int:
        task = asyncio.ensure_future(run(args.data, args.auth_token, args.jobs, args.results))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            log.info("stopped")
            return 0

    try:
        return asyncio.run(main_task())
    except TernError as error:
        log.error("%s", error)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

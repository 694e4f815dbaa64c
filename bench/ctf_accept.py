"""Child process for the CTF benchmark: accept one Transfer (envelope + CTF) as the hub does.

    python -m bench.ctf_accept CONFIG ENVELOPE PAYLOAD

Prints JSON: seconds for verify + stream check + store of every pupil, and this process's
peak RSS (ru_maxrss), so the parent can set it beside xmlsec1's.
"""

import asyncio
import json
import resource
import shutil
import sys
import time
from pathlib import Path

from gateway.core.config import load_settings
from gateway.core.files import file_digest
from gateway.exchange.gateway import Gateway
from gateway.hub.transfers import check_envelope, receive_transfer


async def main(config: str, envelope: str, payload: str) -> dict[str, float]:
    gw = await Gateway.open(load_settings(config))
    try:
        tmp = Path(payload).with_suffix(".incoming")
        shutil.copyfile(payload, tmp)  # receive_transfer moves the file into the store
        t = time.perf_counter()
        digest, size = file_digest(tmp)  # the web handler hashes while streaming; same work
        env = Path(envelope).read_bytes()
        await receive_transfer(gw, env, check_envelope(gw, env), tmp, digest, size)
        seconds = time.perf_counter() - t
        pupils = len(await gw.store.transfers.pupils(Path(envelope).stem))
    finally:
        await gw.close()
    return {"seconds": seconds, "pupils": pupils,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:4]))))

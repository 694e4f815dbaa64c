"""R7: on /v1/transfers the *unauthenticated* envelope may take transfer_timeout_seconds (900 s
by default) to arrive, not body_timeout_seconds: a slowloris holds a connection 15 minutes
before anything is verified."""
import asyncio

from tests.test_slow_clients import served


async def test_an_unverified_envelope_has_the_body_deadline(tmp_path) -> None:
    async with served(tmp_path, body_timeout_seconds=0.5, transfer_timeout_seconds=30) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/transfers HTTP/1.1\r\nHost: gw\r\n"
                     b"Content-Type: multipart/form-data; boundary=XX\r\n"
                     b"Content-Length: 100000\r\n\r\n--XX\r\n"
                     b"Content-Disposition: form-data; name=\"envelope\"\r\n\r\n<Tr")
        try:
            answer = await asyncio.wait_for(reader.read(65536), 3)  # 6 x body_timeout
        except TimeoutError:
            answer = b"(still open after 3 s)"
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:60]

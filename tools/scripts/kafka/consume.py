#!/usr/bin/env python3
"""Independent Kafka consumer for tickwatch's end-to-end tests (confluent-kafka, not tickwatch code).

Reads every partition of the given topics from the beginning up to the high watermark each had when reading
started, and prints one JSON envelope per record to stdout:

    {"headers":{...},"key":"AAPL","offset":0,"partition":1,"topic":"alerts","value":"{...}"}

(sorted keys, compact separators; key/header/value bytes decoded as UTF-8). With --schema KIND=FILE the value
of every record whose record_type header is KIND is validated against that JSON Schema (jsonschema); any
violation is printed to stderr and the exit status is 3.

Usage: consume.py --brokers HOST:PORT --topic T [--topic T2 ...] [--timeout SECS] [--schema alert=FILE ...]
"""
import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition, OFFSET_BEGINNING


def text(b):
    return None if b is None else b.decode("utf-8", errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", action="append", required=True)
    ap.add_argument("--timeout", type=float, default=30.0, help="give up after SECS without progress")
    ap.add_argument("--schema", action="append", default=[], metavar="KIND=FILE")
    args = ap.parse_args()

    validators = {}
    if args.schema:
        import jsonschema

        for spec in args.schema:
            kind, _, path = spec.partition("=")
            with open(path) as f:
                schema = json.load(f)
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validators[kind] = cls(schema)

    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": "tickwatch-e2e-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        # Some Kafka-protocol brokers (Tansu 0.6) answer a fetch only after fetch.wait.max.ms even when data is
        # there; a short wait keeps reading back thousands of small batches quick.
        "fetch.wait.max.ms": 20,
    })
    targets = {}
    assignment = []
    deadline = time.monotonic() + args.timeout
    for topic in args.topic:
        while True:
            md = consumer.list_topics(topic, timeout=10)
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions:
                break
            if time.monotonic() > deadline:
                print(f"consume.py: topic {topic} not found", file=sys.stderr)
                return 2
            time.sleep(0.2)
        for p in sorted(t.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                targets[(topic, p)] = high
            assignment.append(TopicPartition(topic, p, OFFSET_BEGINNING))
    consumer.assign(assignment)

    out = sys.stdout
    bad = 0
    count = 0
    last = time.monotonic()
    while targets:
        msg = consumer.poll(0.2)
        if msg is None:
            if time.monotonic() - last > args.timeout:
                print(f"consume.py: no progress for {args.timeout} s; missing {targets}", file=sys.stderr)
                return 4
            continue
        if msg.error():
            print(f"consume.py: {msg.error()}", file=sys.stderr)
            continue
        last = time.monotonic()
        count += 1
        headers = {k: text(v) for k, v in (msg.headers() or [])}
        env = {
            "topic": msg.topic(),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "key": text(msg.key()),
            "headers": headers,
            "value": text(msg.value()),
        }
        out.write(json.dumps(env, sort_keys=True, separators=(",", ":")) + "\n")
        kind = headers.get("record_type")
        if kind in validators:
            errors = list(validators[kind].iter_errors(json.loads(msg.value())))
            if errors:
                bad += 1
                print(f"consume.py: {msg.topic()}[{msg.partition()}]@{msg.offset()} violates the {kind} schema: "
                      f"{errors[0].message}", file=sys.stderr)
        key = (msg.topic(), msg.partition())
        if key in targets and msg.offset() + 1 >= targets[key]:
            del targets[key]
    consumer.close()
    print(f"consume.py: {count} record(s)", file=sys.stderr)
    return 3 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as e:
        print(f"consume.py: {e}", file=sys.stderr)
        sys.exit(2)

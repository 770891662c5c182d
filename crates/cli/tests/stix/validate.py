#!/usr/bin/env python3
"""Validates a STIX 2.1 bundle with the OASIS stix2 library (the ecosystem's own reader, no
custom properties allowed) and its patterns with stix2-patterns; checks that every reference
resolves. usage: validate.py BUNDLE — prints {"sightings": [{"pattern", "count",
"first_seen", "last_seen"}]} on success, exits 1 with the reason otherwise."""

import json
import sys

import stix2
from stix2patterns.validator import run_validator

with open(sys.argv[1]) as f:
    raw = json.load(f)
bundle = stix2.parse(raw, allow_custom=False, version="2.1")
ids = {o.id: o for o in bundle.objects}
out = []
for o in bundle.objects:
    if o.type == "indicator":
        errors = run_validator(o.pattern, stix_version="2.1")
        if errors:
            sys.exit(f"{o.id}: pattern {o.pattern!r}: {errors}")
    for ref in [getattr(o, "created_by_ref", None), getattr(o, "sighting_of_ref", None)]:
        if ref is not None and ref not in ids:
            sys.exit(f"{o.id}: unresolved reference {ref}")
    if o.type == "sighting":
        if o.first_seen > o.last_seen:
            sys.exit(f"{o.id}: first_seen after last_seen")
        out.append(
            {
                "pattern": ids[o.sighting_of_ref].pattern,
                "count": o.count,
                "first_seen": o.first_seen.isoformat(),
                "last_seen": o.last_seen.isoformat(),
            }
        )
print(json.dumps({"sightings": out}))

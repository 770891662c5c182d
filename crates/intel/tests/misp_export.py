#!/usr/bin/env python3
"""Writes a MISP event made with PyMISP's own data model, as a MISP server exports it and as
a feed holds it: usage misp_export.py OUTDIR (writes event.json and feed-event.json)."""

import json
import os
import sys

from pymisp import MISPEvent, MISPObject, MISPOrganisation

out = sys.argv[1]
e = MISPEvent()
e.info = "Exfiltration of member records"
org = MISPOrganisation()
org.name = "CSIRT"
org.uuid = "5f6e7d8c-0000-4000-8000-000000000001"
e.Orgc = org
e.date = "2014-09-19"
e.add_attribute("ip-dst", "203.0.113.10", to_ids=True, comment="upload server")
e.add_attribute("domain", "sync.jp-cdn-update.example.net", to_ids=True)
e.add_attribute("hostname", "files.backup-store.example.com", to_ids=True)
e.add_attribute("url", "https://api.cloud-telemetry.example.net/v2/upload", to_ids=True)
e.add_attribute(
    "ip-dst|port",
    "203.0.113.77|443",
    to_ids=True,
    first_seen="2014-09-01T00:00:00+00:00",
    last_seen="2014-10-01T00:00:00+00:00",
)
# Not for detection, and not network indicators: never matched.
e.add_attribute("ip-dst", "198.51.100.99", to_ids=False)
e.add_attribute("md5", "d41d8cd98f00b204e9800998ecf8427e", to_ids=True)
e.add_attribute("email-src", "attacker@example.org", to_ids=True)
o = MISPObject("domain-ip")
o.add_attribute("domain", value="cdn.exfil-relay.example.com", to_ids=True)
o.add_attribute("ip", value="192.0.2.55", to_ids=True)
e.add_object(o)
with open(os.path.join(out, "event.json"), "w") as f:
    f.write(e.to_json(indent=1))
with open(os.path.join(out, "feed-event.json"), "w") as f:
    json.dump(e.to_feed(), f, indent=1)

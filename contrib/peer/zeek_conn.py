#!/usr/bin/env python3
"""Per-connection agreement of `exfilmeter flows` with Zeek conn.log baselines (../shared/peer-suites).

Usage: contrib/peer/zeek_conn.py OUT_DIR [-v]   where OUT_DIR holds one flows CSV per trace, named
after the trace path with / replaced by _ (see docs/peer-differences.md for the loop that writes
them). A measuring aid until the Rust acceptance test of issue 13 lands; compares, per Zeek TCP/UDP
row found by 5-tuple: who is the client, orig/resp_pkts <-> frames, orig/resp_ip_bytes <-> ip_bytes,
orig/resp_bytes <-> stream+gap (TCP) or payload (UDP).
"""
import csv, os, sys, collections
Z=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared', 'peer-suites', 'zeek')
out=sys.argv[1]
tests=list(csv.DictReader(open(f'{Z}/tests.tsv'), delimiter='\t'))
fields=['pkts','ip_bytes','bytes','client','missing']
agree=collections.Counter(); total=collections.Counter(); bad=collections.defaultdict(list)
for t in tests:
    if 'conn.log' not in t['baselines'].split(','): continue
    p=f"{Z}/baselines/{t['test']}/conn.log"
    if not os.path.exists(p): continue
    cols=None; rows=[]
    for line in open(p):
        line=line.rstrip('\n')
        if line.startswith('#fields'): cols=line.split('\t')[1:]; continue
        if line.startswith('#') or not cols: continue
        rows.append(dict(zip(cols,line.split('\t'))))
    if not cols or 'id.orig_h' not in cols: continue
    ours=f"{out}/{t['trace'].replace('/','_')}.csv"
    fl=collections.defaultdict(lambda: collections.Counter())
    for r in csv.DictReader(open(ours)):
        k=(r['proto'],r['client_ip'],r['client_port'],r['server_ip'],r['server_port'])
        c=fl[k]; d=r['direction']
        for f in ['frames','ip_bytes','payload_bytes','stream_bytes','gap_bytes']:
            c[d+f]+=int(r[f] or 0)
    for z in rows:
        proto=z.get('proto'); 
        if proto not in ('tcp','udp'): continue
        k=(proto,z['id.orig_h'],z['id.orig_p'],z['id.resp_h'],z['id.resp_p'])
        kr=(proto,z['id.resp_h'],z['id.resp_p'],z['id.orig_h'],z['id.orig_p'])
        if k in fl: c=fl[k]; o,r_='c2s','s2c'; same=True
        elif kr in fl: c=fl[kr]; o,r_='s2c','c2s'; same=False
        else:
            total['found']+=1; bad['found'].append((t['test'],k)); continue
        total['found']+=1; agree['found']+=1
        def chk(name, ok):
            total[name]+=1
            if ok: agree[name]+=1
            else: bad[name].append((t['test'],k))
        chk('client', same)
        try:
            chk('pkts', int(z['orig_pkts'])==c[o+'frames'] and int(z['resp_pkts'])==c[r_+'frames'])
            chk('ip_bytes', int(z['orig_ip_bytes'])==c[o+'ip_bytes'] and int(z['resp_ip_bytes'])==c[r_+'ip_bytes'])
            if proto=='tcp':
                ob=z['orig_bytes']; rb=z['resp_bytes']
                if ob not in ('-',''):
                    chk('bytes', int(ob)==c[o+'stream_bytes']+c[o+'gap_bytes'] and int(rb)==c[r_+'stream_bytes']+c[r_+'gap_bytes'])
            else:
                ob=z['orig_bytes']; rb=z['resp_bytes']
                if ob not in ('-',''):
                    chk('bytes', int(ob)==c[o+'payload_bytes'] and int(rb)==c[r_+'payload_bytes'])
        except (KeyError, ValueError): pass
for f in ['found','client','pkts','ip_bytes','bytes']:
    print(f"{f:10} {agree[f]}/{total[f]} = {100*agree[f]/max(1,total[f]):.1f}%")
if len(sys.argv)>2:
    for f in bad:
        print(f, len(bad[f]), bad[f][:8])

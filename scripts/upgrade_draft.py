#!/usr/bin/env python3
# upgrade_draft.py — a first draft of the next upgrade script: compares a released
# install script with the one the build makes now (`make denorm--<version>.sql`) and
# prints, statement by statement, what differs: CREATE OR REPLACE for a changed
# function, the definition of a new one, the other new statements, and as comments
# what is gone. Read and edit the draft (a changed view becomes CREATE OR REPLACE VIEW,
# a removed function needs its DROP); test/t/060_upgrade.pl then checks the result
# against a fresh install.
#   python3 scripts/upgrade_draft.py src/sql/released/denorm--0.1.sql denorm--0.2.sql
# --refresh rewrites the functions an upgrade script under way already (re)creates with
# their current definitions, and names the changed ones it does not touch yet:
#   python3 scripts/upgrade_draft.py --refresh src/sql/updates/denorm--0.1--0.2.sql \
#       src/sql/released/denorm--0.1.sql denorm--0.2.sql
import re
import sys

def stmts(path):
    text=open(path).read()
    # split into top-level statements: handle dollar quotes
    out=[];cur=[];i=0;n=len(text);dq=None;start=0
    while i<n:
        if dq:
            j=text.find(dq,i)
            i=j+len(dq); dq=None; continue
        c=text[i]
        if text.startswith('--',i):
            j=text.find('\n',i); i=n if j<0 else j+1; continue
        if c=='$':
            m=re.match(r'\$[A-Za-z_]*\$',text[i:])
            if m: dq=m.group(0); i+=len(dq); continue
        if c=="'":
            j=i+1
            while True:
                k=text.find("'",j)
                if k+1<n and text[k+1]=="'": j=k+2; continue
                break
            i=k+1; continue
        if c==';':
            out.append(text[start:i+1]); start=i+1
        i+=1
    return out
def strip_comments(s):
    lines=[l for l in s.split('\n') if not l.strip().startswith('--')]
    return '\n'.join(lines).strip()
def key(s):
    s2=strip_comments(s)
    m=re.match(r'CREATE (?:OR REPLACE )?FUNCTION\s+(denorm\.\w+)\s*\(',s2)
    if m:
        # signature: name + param list up to matching paren
        depth=0;j=s2.index('(',m.start())
        for k in range(j,len(s2)):
            if s2[k]=='(': depth+=1
            elif s2[k]==')':
                depth-=1
                if depth==0: break
        params=s2[j+1:k]
        params=re.sub(r'DEFAULT [^,]*','',params)
        types=[]
        for p in params.split(','):
            p=p.strip()
            if not p: continue
            toks=p.split()
            if toks[0] in ('OUT',): continue
            if toks[0] in ('VARIADIC','IN'): toks=toks[1:]
            types.append(' '.join(toks[1:]) if len(toks)>1 else toks[0])
        return ('F',m.group(1),tuple(types))
    return ('S',s2)
def refresh(upgrade_path, new):
    """Rewrites, in an upgrade script under way, every function it (re)creates with the
    definition the built install script has now (keeping CREATE or CREATE OR REPLACE),
    and lists the functions of the install script that differ from the released one
    but that the upgrade script does not touch yet."""
    newmap={key(s): s for s in new}
    out=[]; touched=set()
    for s in stmts(upgrade_path):
        k=key(s)
        if k[0]=='F' and k in newmap:
            replace=re.search(r'CREATE OR REPLACE FUNCTION', s) is not None
            body=newmap[k]
            if replace: body=re.sub(r'CREATE FUNCTION','CREATE OR REPLACE FUNCTION',body,count=1)
            out.append(body); touched.add(k)
        else:
            out.append(s)
    open(upgrade_path,'w').write(''.join(out)+'\n')
    return touched

if sys.argv[1]=='--refresh':
    # upgrade_draft.py --refresh UPGRADE_SCRIPT RELEASED_SCRIPT BUILT_SCRIPT
    new=stmts(sys.argv[4]); old={key(s): strip_comments(s) for s in stmts(sys.argv[3])}
    touched=refresh(sys.argv[2], new)
    for s in new:
        k=key(s)
        if k[0]=='F' and k not in touched and old.get(k)!=strip_comments(s):
            print('-- not yet in the upgrade script:', k[1], k[2])
    sys.exit(0)

old=stmts(sys.argv[1]); new=stmts(sys.argv[2])
oldmap={}
for s in old: oldmap[key(s)]=strip_comments(s)
for s in new:
    k=key(s)
    body=strip_comments(s)
    if not body: continue
    if k in oldmap and oldmap[k]==body: continue
    if k[0]=='F':
        status='changed' if k in oldmap else 'new'
        print(f'-- {status}: {k[1]}{k[2]}')
        print(re.sub(r'^CREATE FUNCTION','CREATE OR REPLACE FUNCTION',s.strip(),flags=re.M) if status=='changed' else s.strip())
        print()
    else:
        print('-- STATEMENT not in 0.1:')
        print(s.strip()); print()
newkeys={key(s) for s in new}
for s in old:
    k=key(s)
    if k not in newkeys and strip_comments(s):
        print('-- REMOVED from 0.1:', (k[1],k[2]) if k[0]=='F' else strip_comments(s)[:200].replace('\n',' '))

#!/usr/bin/env python3
"""Lists import circles between the source files of each crate (issue 12, DESIGN.md).

Reads the `use crate::`, `use super::`, `use self::` and `use child::` lines of every file
under crates/*/src (inline `#[cfg(test)] mod tests` blocks left out), maps each path to the
file of the module it names, and prints every strongly connected group of files. By
default an edge between a module and its own descendant (a parent re-exporting its child,
a child using its parent's items through `super::`) is not counted: that is one concept
split into files. `--all` counts those too. Exits 1 when a circle is found.
Usage: scripts/import-cycles.py [--all]   (from the workspace root)
"""
import os,re,sys
ALL='--all' in sys.argv
found=[0]
def modpath(src,f):
    rel=os.path.relpath(f,src)[:-3].split(os.sep)
    if rel[-1] in('lib','main','mod'): rel=rel[:-1]
    return tuple(rel)
for crate in sorted(os.listdir('crates')):
    src=f'crates/{crate}/src'
    if not os.path.isdir(src): continue
    files={}
    for d,_,fs in os.walk(src):
        for fn in fs:
            if fn.endswith('.rs'): files[modpath(src,os.path.join(d,fn))]=os.path.join(d,fn)
    mods=set(files)
    def resolve(parts):
        for n in range(len(parts),-1,-1):
            if tuple(parts[:n]) in mods: return tuple(parts[:n])
    edges={m:set() for m in mods}
    for m,f in files.items():
        text=open(f).read()
        # drop inline test modules
        i=text.find('#[cfg(test)]\nmod tests {')
        if i>=0: text=text[:i]
        # collect use statements (may span lines)
        for u in re.findall(r'(?:^|\n)\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);',text):
            u=re.sub(r'\s+','',u)
            heads=[]
            def expand(prefix,body):
                # body like a::b::{c,d::{e}}
                if '{' not in body: heads.append(prefix+body.split('::')); return
                k=body.index('{'); pre=[p for p in body[:k].split('::') if p]
                inner=body[k+1:body.rindex('}')]
                depth=0;cur=''
                parts=[]
                for ch in inner:
                    if ch=='{':depth+=1
                    if ch=='}':depth-=1
                    if ch==',' and depth==0: parts.append(cur);cur=''
                    else: cur+=ch
                if cur: parts.append(cur)
                for p in parts: expand(prefix+pre,p)
            expand([],u)
            for h in heads:
                h=[x for x in h if x]
                if not h: continue
                base=list(m)
                if h[0]=='crate': path=h[1:]
                elif h[0]=='super':
                    b=list(m) if files[m].endswith(('mod.rs','lib.rs')) else list(m)
                    # super from module m is parent of m
                    b=b[:-1]; hh=h[1:]
                    while hh and hh[0]=='super': b=b[:-1]; hh=hh[1:]
                    path=b+hh
                elif h[0]=='self': path=list(m)+h[1:]
                elif tuple(list(m)+[h[0]]) in mods: path=list(m)+h
                else: continue
                t=resolve(path)
                if t is None or t==m: continue
                if not ALL and (t[:len(m)]==m or m[:len(t)]==t): continue
                edges[m].add(t)
    # find cycles via Tarjan
    idx={};low={};st=[];on=set();out=[];c=[0]
    sys.setrecursionlimit(10000)
    def sc(v):
        idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
        for w in edges[v]:
            if w not in idx: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],idx[w])
        if low[v]==idx[v]:
            comp=[]
            while True:
                w=st.pop();on.discard(w);comp.append(w)
                if w==v:break
            if len(comp)>1: out.append(comp)
    for v in mods:
        if v not in idx: sc(v)
    for comp in out:
        found[0]+=1
        print(crate, 'CYCLE:', ' '.join('::'.join(x) or 'lib' for x in comp))
        for a in comp:
            print('   ', '::'.join(a) or 'lib','->',[ '::'.join(b) or 'lib' for b in edges[a] if b in comp])
print(f'{found[0]} import circle(s)')
sys.exit(1 if found[0] else 0)

#!/usr/bin/env python3
"""Rank Rust crates and Go modules packaged in Debian by how many Debian source
packages use them.

Inputs (Debian's own indices, fetched by `apt-get update` and `apt-file update`):
  Packages  - the binary package index (lz4cat .../dists/<suite>/main/binary-amd64/Packages.lz4)
  contents  - lines of the Contents-all + Contents-amd64 indices under
              usr/share/cargo/registry/ and usr/share/gocode/src/

Figure: the number of distinct *other* Debian source packages with a binary that
Depends/Pre-Depends on one of the package's binaries (or on a name it Provides), or
that names the package's source in Built-Using / Static-Built-Using (how Debian records
what a statically linked Rust or Go program was built from).

For python, the names are the distribution names of the `*.dist-info`/`*.egg-info` directories
under usr/lib/python3/dist-packages/ (the PyPI project name, with `-` escaped as `_`).

Usage: debian_dependents.py Packages contents.txt rust|go|python > out.tsv
Output: name<TAB>debian_dependents, most used first (ties by name).
"""
import re
import sys
from collections import defaultdict


def parse_packages(path):
    rec = {}
    key = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if rec:
                    yield rec
                rec, key = {}, None
                continue
            if line[0] in " \t" and key:
                rec[key] += " " + line.strip()
                continue
            key, _, val = line.partition(":")
            rec[key] = val.strip()
    if rec:
        yield rec


def names_in(field):
    out = []
    for alt in field.split(","):
        for part in alt.split("|"):
            name = part.strip().split(" ")[0].split(":")[0]
            if name:
                out.append(name)
    return out


THREE = ("github.com", "gitlab.com", "bitbucket.org", "golang.org", "codeberg.org", "git.sr.ht")


def go_root(d):
    """Repository root of a Go import path when the package ships no go.mod."""
    parts = d.split("/")
    if "." not in parts[0]:
        return None  # a GOPATH stub, not a module path
    if parts[0] in THREE:
        return "/".join(parts[:3]) if len(parts) >= 3 else None
    if parts[0] == "gopkg.in":
        if len(parts) >= 2 and re.search(r"\.v\d+$", parts[1]):
            return "/".join(parts[:2])
        return "/".join(parts[:3]) if len(parts) >= 3 else None
    return "/".join(parts[:2]) if len(parts) >= 2 else parts[0]


def main():
    packages_path, contents_path, eco = sys.argv[1], sys.argv[2], sys.argv[3]
    src_of = {}
    provides = defaultdict(set)
    deps_of_src = defaultdict(set)  # source -> names of binaries/virtuals it needs
    built_using = defaultdict(set)  # source -> sources it was statically built with
    for r in parse_packages(packages_path):
        pkg = r.get("Package")
        if not pkg:
            continue
        src = r.get("Source", pkg).split(" ")[0]
        src_of[pkg] = src
        provides[pkg].add(pkg)
        for p in names_in(r.get("Provides", "")):
            provides[p].add(pkg)
        for fld in ("Depends", "Pre-Depends"):
            deps_of_src[src].update(names_in(r.get(fld, "")))
        for fld in ("Built-Using", "Static-Built-Using"):
            built_using[src].update(names_in(r.get(fld, "")))

    # dependents: source -> set of other sources using it
    dependents = defaultdict(set)
    for src, names in deps_of_src.items():
        for n in names:
            for real in provides.get(n, ()):
                target = src_of.get(real)
                if target and target != src:
                    dependents[target].add(src)
    for src, used in built_using.items():
        for target in used:
            if target != src:
                dependents[target].add(src)

    # map each crate / module to the Debian binary packages shipping it
    name_pkgs = defaultdict(set)
    go_files = defaultdict(set)  # binary pkg -> dirs holding .go files
    go_mods = defaultdict(set)  # binary pkg -> dirs holding go.mod
    with open(contents_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            path, _, pkgs = line.rstrip("\n").rpartition(" ")
            path = path.strip()
            bins = [p.split("/")[-1] for p in pkgs.split(",")]
            if eco == "python":
                m = re.match(
                    r"usr/lib/python3/dist-packages/([^/]+?)-(\d[^/-]*)(-py[\d.]+)?\.(dist-info|egg-info)(/|$)",
                    path,
                )
                if m:
                    name_pkgs[m.group(1)].update(bins)
            elif eco == "rust":
                m = re.match(r"usr/share/cargo/registry/([^/]+)-(\d[^/-]*)/Cargo\.toml$", path)
                if m:
                    name_pkgs[m.group(1)].update(bins)
            else:
                m = re.match(r"usr/share/gocode/src/(.+)/([^/]+)$", path)
                if not m:
                    continue
                d, fname = m.group(1), m.group(2)
                for b in bins:
                    if fname == "go.mod":
                        go_mods[b].add(d)
                    elif fname.endswith(".go"):
                        go_files[b].add(d)
    if eco == "go":
        for b in set(go_files) | set(go_mods):
            mods = go_mods.get(b)
            if mods:
                for d in mods:
                    if "/vendor/" in d or "/testdata" in d or "/internal/" in d:
                        continue
                    if "." not in d.split("/")[0]:
                        continue  # a GOPATH stub such as android/soong, not a public module
                    name_pkgs[d].add(b)
            else:
                roots = set()
                for d in go_files[b]:
                    if "/vendor/" in d or "/testdata" in d:
                        continue
                    r = go_root(d)
                    if r:
                        roots.add(r)
                for r in roots:
                    name_pkgs[r].add(b)

    rows = []
    for name, bins in name_pkgs.items():
        srcs = {src_of.get(b, b) for b in bins}
        users = set()
        for s in srcs:
            users |= dependents.get(s, set())
        users -= srcs
        rows.append((name, len(users)))
    rows.sort(key=lambda x: (-x[1], x[0]))
    for name, n in rows:
        print(f"{name}\t{n}")


if __name__ == "__main__":
    main()

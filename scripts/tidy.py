#!/usr/bin/env python3
"""Tidy checks of Baton's documentation: what the docs name exists, and the README stays short.

Run from anywhere (``make lint`` runs it): ``python3 scripts/tidy.py [DOC ...] [--readme FILE]``.

1. Every file, function, type and test that docs/DESIGN.md and docs/ARCHITECTURE.md name (or
   the DOC files given) exists in the tree. The docs name code in backticks, the way DESIGN.md's
   table "Where each rule lives" does:

   - a repository path, such as ``crates/core/src/actor.rs`` or ``extensions/gnome/``, must
     exist; a bare file name such as ``windows.rs`` must exist in a directory the same
     paragraph named before it (or anywhere);
   - names right after a path and a colon belong to that file, as a list separated by commas
     or "and" (a remark in parentheses may follow each): ``crates/core/src/actor.rs``:
     ``Handle::submit``, ``Actor::run``. Each must be defined there (``fn``, ``struct``,
     ``enum``, ``trait``, ``type``, ``const``, ``static`` or ``mod``); for ``Type::name`` the
     file must also define or implement ``Type``. Tests are named the same way, after their
     test file;
   - elsewhere, a ``Type`` (CamelCase) must be defined somewhere in the Rust sources, a
     ``Type::name`` defined in a file that defines or implements ``Type``, a ``module::name`` or
     ``baton_crate::Name`` in that module or crate, and a ``SCREAMING_NAME`` must occur in the
     sources. A lone lower-case word is not checked there: it may be an ordinary word (a run
     state, a client name);
   - quoted check names after a script, ``scripts/windows/suite.py`` ("nothing of the tree is
     left"), must occur in that script.

2. README.md has at most 200 lines and no table cell longer than 200 characters.

3. Every relative link in README.md and docs/*.md points to a file that exists, and an anchor
   in it to a heading of that file.

On failure each problem is printed with its file and line, and the exit status is 1.
"""

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOCS = ["docs/DESIGN.md", "docs/ARCHITECTURE.md"]
README_MAX_LINES = 200
README_MAX_CELL = 200

# Directories never searched: build output, dependencies, version control.
SKIP_DIRS = {".git", "target", "node_modules", ".venv", "venv", "__pycache__"}
# Where Rust definitions are looked for.
RUST_ROOTS = ["crates", "src-tauri", "bench", "fuzz"]
# Where a SCREAMING_NAME (a constant, an environment variable) may occur.
TEXT_EXTS = {".rs", ".py", ".sh", ".js", ".toml"}
SOURCE_EXTS = {"rs", "py", "sh", "js", "sql", "html", "css", "toml", "json", "yml"}
# Roots of qualified names that are not Baton's: not checked.
EXTERNAL_ROOTS = {
    "std", "core", "alloc", "tokio", "axum", "hyper", "sqlx", "serde", "serde_json", "tauri",
    "reqwest", "rmcp", "clap", "ashpd", "reis", "enigo", "windows", "nix", "utoipa", "schemars",
    "imbl", "tracing", "zbus", "x11rb",
}

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
RE_IDENT = re.compile(rf"^{IDENT}$")
RE_QUAL = re.compile(rf"^{IDENT}(?:::{IDENT})+$")
RE_PATH = re.compile(r"^[A-Za-z0-9_.@-]+(?:/[A-Za-z0-9_.@-]+)*/?$")
RE_BARE_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.(?:rs|py|sh|js|sql)$")
RE_SPAN = re.compile(r"`([^`\n]+)`")
# Between two names of one list: a comma or "and"/"or", maybe after a remark in parentheses.
RE_SEP = re.compile(r"\s*(?:\([^`|]*\))?\s*(?:,|,?\s*and|,?\s*or)\s*")
RE_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


class Tree:
    """The repository's files, read once."""

    def __init__(self, root):
        self.root = root
        self.files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                self.files.append(Path(dirpath, name).relative_to(root).as_posix())
        self.by_name = {}
        for f in self.files:
            self.by_name.setdefault(f.rsplit("/", 1)[-1], []).append(f)
        self.rust = [f for f in self.files if f.endswith(".rs") and f.split("/")[0] in RUST_ROOTS]
        self.text = [f for f in self.files if Path(f).suffix in TEXT_EXTS]
        self._content = {}
        self.crates = self._crates()

    def read(self, rel):
        if rel not in self._content:
            try:
                self._content[rel] = (self.root / rel).read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._content[rel] = ""
        return self._content[rel]

    def exists(self, rel):
        return (self.root / rel.rstrip("/")).exists()

    def under(self, rel):
        """The Rust files of `rel`: the file itself, or every one below a directory."""
        rel = rel.rstrip("/")
        if (self.root / rel).is_dir():
            return [f for f in self.files if f.startswith(rel + "/") and f.endswith(".rs")]
        return [rel]

    def _crates(self):
        crates = {}
        for f in self.files:
            if f.endswith("Cargo.toml"):
                m = re.search(r'^\s*name\s*=\s*"([^"]+)"', self.read(f), re.M)
                if m:
                    crates[m.group(1).replace("-", "_")] = f.rsplit("/", 1)[0] if "/" in f else "."
        return crates


def defines(text, name):
    """Whether Rust `text` defines `name`."""
    n = re.escape(name)
    return bool(
        re.search(rf"\b(?:fn|struct|enum|trait|type|union|const|static|mod)\s+{n}\b", text)
        or re.search(rf"macro_rules!\s*{n}\b", text)
    )


def has_type(text, name):
    """Whether Rust `text` defines or implements type `name`."""
    n = re.escape(name)
    return bool(
        re.search(rf"\b(?:struct|enum|trait|type|union)\s+{n}\b", text)
        or re.search(rf"\bimpl\b[^{{;]*?\b{n}\b[^{{;]*\{{", text)
    )


def camel(name):
    return name[0].isupper() and any(c.islower() for c in name)


def screaming(name):
    return name.isupper() and "_" in name


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def paragraphs(lines):
    """(first line number, text) of each paragraph outside code fences. A table row, a list
    item and a heading each begin a paragraph of their own."""
    out, block, start, fence = [], [], 0, False

    def flush():
        if block:
            out.append((start, "\n".join(block)))
            block.clear()

    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            fence = not fence
            continue
        if fence:
            continue
        if not stripped:
            flush()
            continue
        if stripped.startswith(("|", "#", "- ", "* ")) or re.match(r"\d+\. ", stripped):
            flush()
        if not block:
            start = number
        block.append(line)
        if stripped.startswith(("|", "#")):
            flush()
    flush()
    return out


class Checker:
    def __init__(self, tree):
        self.tree = tree
        self.problems = []
        self.files = set()
        self.names = set()

    def problem(self, doc, line, message):
        self.problems.append(f"{doc}:{line}: {message}")

    # ----- a doc's names ------------------------------------------------------------------

    def check_doc(self, doc_path, shown):
        lines = doc_path.read_text(encoding="utf-8").splitlines()
        for first, text in paragraphs(lines):
            self.check_paragraph(shown, first, text)

    def check_paragraph(self, doc, first, text):
        current = None  # the file a list of names belongs to
        listing = False
        dirs = []  # directories named so far in this paragraph, newest last
        prev_end = 0
        spans = list(RE_SPAN.finditer(text))
        for m in spans:
            token = m.group(1).strip()
            if token.endswith("()"):
                token = token[:-2]
            line = first + text.count("\n", 0, m.start())
            between = text[prev_end : m.start()]
            prev_end = m.end()
            after = text[m.end() :]
            path = self.as_path(token, dirs)
            if path is not None:
                listing = False
                current = None
                resolved = self.check_path(doc, line, token, path)
                if resolved:
                    dirs.append(resolved if self.tree.exists(resolved) and (self.tree.root / resolved).is_dir()
                                else resolved.rsplit("/", 1)[0])
                    if re.match(r"\s*:(?!:)", after):
                        current, listing = resolved, "first"
                    self.check_quoted(doc, line, resolved, after)
                continue
            if not (RE_IDENT.match(token) or RE_QUAL.match(token)):
                current, listing = None, False
                continue
            tied = current is not None and (
                (listing == "first" and between.strip() == ":")
                or (listing == "more" and RE_SEP.fullmatch(between))
            )
            if tied:
                listing = "more"
                self.check_tied(doc, line, token, current)
            else:
                current, listing = None, False
                self.check_free(doc, line, token)

    def as_path(self, token, dirs):
        """The repository path `token` names (maybe unresolved), or None if it names none."""
        if RE_BARE_FILE.match(token):
            for d in reversed(dirs):
                if self.tree.exists(f"{d}/{token}"):
                    return f"{d}/{token}"
            found = self.tree.by_name.get(token)
            return found[0] if found else token
        if "/" not in token or not RE_PATH.match(token) or token.startswith((".", "/")):
            return None
        head = token.split("/")[0]
        ext = token.rsplit(".", 1)[-1] if "." in token.rsplit("/", 1)[-1] else ""
        if head == "target" or not (self.tree.exists(head) or ext in SOURCE_EXTS):
            return None
        return token

    def check_path(self, doc, line, token, path):
        self.files.add(path.rstrip("/"))
        if not self.tree.exists(path):
            self.problem(doc, line, f"`{token}`: no such file or directory")
            return None
        return path.rstrip("/")

    def check_quoted(self, doc, line, path, after):
        m = re.match(r'\s*\(((?:\s*"[^"\n]+"\s*,?)+)\)', after)
        if not m:
            return
        text = self.tree.read(path)
        for name in re.findall(r'"([^"\n]+)"', m.group(1)):
            self.names.add((path, name))
            if name not in text:
                self.problem(doc, line, f'"{name}": not in {path}')

    def check_tied(self, doc, line, token, path):
        self.names.add((path, token))
        files = self.tree.under(path)
        texts = [self.tree.read(f) for f in files]
        parts = token.split("::")
        name = parts[-1]
        if not any(defines(t, name) for t in texts):
            self.problem(doc, line, f"`{token}`: no `{name}` defined in {path}")
        elif len(parts) > 1 and camel(parts[-2]):
            if not any(has_type(t, parts[-2]) for t in texts):
                self.problem(doc, line, f"`{token}`: {path} neither defines nor implements `{parts[-2]}`")

    def check_free(self, doc, line, token):
        parts = token.split("::")
        if len(parts) == 1:
            if camel(token):
                self.names.add((None, token))
                if not any(defines(self.tree.read(f), token) for f in self.tree.rust):
                    self.problem(doc, line, f"`{token}`: defined nowhere in {', '.join(RUST_ROOTS)}")
            elif screaming(token):
                self.names.add((None, token))
                pattern = re.compile(rf"\b{re.escape(token)}\b")
                if not any(pattern.search(self.tree.read(f)) for f in self.tree.text):
                    self.problem(doc, line, f"`{token}`: occurs nowhere in the sources")
            return
        head, name = parts[0], parts[-1]
        if head in ("crate", "self", "super") or head in EXTERNAL_ROOTS:
            return
        self.names.add((None, token))
        if head in self.tree.crates:
            crate = self.tree.crates[head]
            files = [f for f in self.tree.rust if f.startswith(crate + "/src/") or crate == "."]
            if not any(defines(self.tree.read(f), name) for f in files):
                self.problem(doc, line, f"`{token}`: no `{name}` defined in {crate}/src")
            return
        if camel(head):
            homes = [f for f in self.tree.rust if has_type(self.tree.read(f), head)]
            if not homes:
                self.problem(doc, line, f"`{token}`: type `{head}` defined nowhere")
            elif not any(defines(self.tree.read(f), name) for f in homes):
                self.problem(doc, line, f"`{token}`: no `{name}` beside `{head}` ({', '.join(homes)})")
            return
        # A module path: the module's file (or directory) must exist and define the name.
        module = "/".join(parts[:-1])
        dotted = "::".join(parts[:-1])
        homes = [
            f for f in self.tree.rust
            if f.endswith(f"/{module}.rs") or f.endswith(f"/{module}/mod.rs")
        ]
        dirs = {f[: -len("/mod.rs")] for f in homes if f.endswith("/mod.rs")}
        files = homes + [f for f in self.tree.rust if any(f.startswith(d + "/") for d in dirs)]
        if not homes:
            self.problem(doc, line, f"`{token}`: no module `{dotted}` in {', '.join(RUST_ROOTS)}")
        elif not any(defines(self.tree.read(f), name) for f in files):
            self.problem(doc, line, f"`{token}`: no `{name}` in module `{dotted}` ({', '.join(homes)})")

    # ----- the README, and links ----------------------------------------------------------

    def check_readme(self, readme, shown):
        lines = readme.read_text(encoding="utf-8").splitlines()
        if len(lines) > README_MAX_LINES:
            self.problem(shown, len(lines), f"{len(lines)} lines, more than {README_MAX_LINES}: move the detail to docs/")
        fence = False
        for number, line in enumerate(lines, 1):
            if line.strip().startswith("```"):
                fence = not fence
            if fence or not line.lstrip().startswith("|"):
                continue
            for cell in re.split(r"(?<!\\)\|", line.strip().strip("|")):
                if len(cell.strip()) > README_MAX_CELL:
                    self.problem(shown, number, f"a table cell of {len(cell.strip())} characters, more than {README_MAX_CELL}")
        return len(lines)

    def check_links(self, doc):
        links = 0
        lines = doc.read_text(encoding="utf-8").splitlines()
        fence = False
        shown = display(doc)
        for number, line in enumerate(lines, 1):
            if line.strip().startswith("```"):
                fence = not fence
            if fence:
                continue
            for target in RE_LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue
                links += 1
                file, _, anchor = target.partition("#")
                dest = (doc.parent / file).resolve() if file else doc
                if not dest.exists():
                    self.problem(shown, number, f"link to {target}: no such file")
                    continue
                if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    self.problem(shown, number, f"link to {target}: no heading with that anchor")
        return links


def display(path):
    """`path` as the problems name it: from the repository's root when it is inside."""
    path = Path(path).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def anchors(path):
    found, seen, fence = set(), {}, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", nargs="*", help=f"docs whose names to check (default: {' '.join(DEFAULT_DOCS)})")
    parser.add_argument("--readme", help="the README to hold to its length (default: README.md)")
    args = parser.parse_args()

    tree = Tree(ROOT)
    checker = Checker(tree)
    docs = [Path(d) for d in args.docs] or [ROOT / d for d in DEFAULT_DOCS]
    shown = []
    for doc in docs:
        name = display(doc)
        shown.append(name)
        if not doc.exists():
            checker.problem(name, 0, "no such doc")
            continue
        checker.check_doc(doc, name)

    readme = Path(args.readme) if args.readme else ROOT / "README.md"
    readme_lines = checker.check_readme(readme, args.readme or "README.md")

    links = 0
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        links += checker.check_links(doc)

    if checker.problems:
        for p in checker.problems:
            print(p, file=sys.stderr)
        print(f"tidy: {len(checker.problems)} problem(s)", file=sys.stderr)
        return 1
    print(
        f"tidy: {len(checker.files)} files, {len(checker.names)} functions, types and tests named in "
        f"{' and '.join(shown)} exist; {args.readme or 'README.md'} has {readme_lines} lines; "
        f"{links} links resolve"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Help that reads like a CLI's, not like Python: an option's value is named for what it is (TAG,
PLAN, SINCE) or lists its choices ([table|json|yaml]); arguments show only their names, in capitals (DIRS..., [DEST]). Typer
would print the annotation (`<list[str]>`, `<list[Path]>`, `<str>`). Pure, applied once by app.py."""

from __future__ import annotations


def value_name(param_name: str, choices=None) -> str:
    """`in_tag` → TAG, `input_` → INPUT, `output_datum` → DATUM; a choice → [a|b|c]."""
    if choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
    parts = [p for p in param_name.split("_") if p]
    return (parts[-1] if parts else "VALUE").upper()


def apply() -> None:
    import typer.core

    def display_type(self, ctx):
        if isinstance(self, typer.core.TyperArgument):
            return None
        desc = self.type_descriptor
        return value_name(self.name or "", list(desc.choices or ()) if desc.is_choice else None)

    def usage_name(self):  # DIRS... when required, [DEST] when not (Typer writes {dirs}...)
        name = self.display_name_raw.upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def help_name(self):
        name = self.display_name_raw.upper()
        return name + ("..." if self.metavar is None and self.nargs != 1 else "")

    # Patching Typer's own methods is the point here (it has no hook for these names).
    typer.core._TyperParameter.display_type = display_type  # type: ignore[method-assign]
    typer.core.TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
    typer.core.TyperArgument._rich_display_name = help_name  # type: ignore[method-assign]


# An example or two for each command, shown under its help ("Examples:").
EXAMPLES = {
    "": ["knitctl quickstart", "knitctl data push ./dataset -t project:demo", "knitctl run find -o json"],
    "up": ["knitctl up", "knitctl up --parallelism 4"],
    "down": ["knitctl down"],
    "status": ["knitctl status", "knitctl status -o json"],
    "quickstart": ["knitctl quickstart"],
    "doctor": ["knitctl doctor", "knitctl doctor --digests"],
    "tui": ["knitctl tui"],
    "init": ["KNIT_HOME=/srv/knit knitctl init"],
    "data push": ["knitctl data push ./iris -t project:demo -t type:dataset", "knitctl data push ./day-*/ -n -t project:demo"],
    "data find": ["knitctl data find -t project:demo", "knitctl data find --since 2h --transient true -o json"],
    "data show": ["knitctl data show 9dba68b5", "knitctl data show 9dba68b5 -o yaml"],
    "data pull": ["knitctl data pull 9dba68b5 ./out -x", "knitctl data pull 9dba68b5 - | tar -tzf -"],
    "data tag": ["knitctl data tag 9dba68b5 --add stage:reviewed", "knitctl data tag 9dba68b5 --remove-key stage"],
    "data lineage": ["knitctl data lineage 9dba68b5 -u -n all", "knitctl data lineage 9dba68b5 -o dot | dot -Tsvg > g.svg"],
    "data mark-bad": ["knitctl data mark-bad 9dba68b5 --reason 'labels shifted by one row'"],
    "data unmark": ["knitctl data unmark 9dba68b5"],
    "gc": ["knitctl gc --dry-run", "knitctl gc --keep-newest 3 -t type:model", "knitctl gc --older-than 30d --pin release:yes"],
    "plan template": ["knitctl plan template > train.yaml"],
    "plan apply": ["knitctl plan apply train.yaml", "knitctl plan apply train.yaml --dry-run -o json"],
    "plan show": ["knitctl plan show 3f2a", "knitctl plan show 3f2a -o yaml"],
    "plan find": ["knitctl plan find -i project:demo -o json", "knitctl plan find --active yes -O type:model"],
    "plan active": ["knitctl plan active no 3f2a", "knitctl plan active yes 3f2a"],
    "plan cache": ["knitctl plan cache yes 3f2a", "knitctl plan cache no 3f2a"],
    "plan resource": ["knitctl plan resource 3f2a -s memory=2Gi -s cpu=2", "knitctl plan resource 3f2a -u gpu"],
    "plan annotate": ["knitctl plan annotate 3f2a --add owner=me", "knitctl plan annotate 3f2a --remove-key owner"],
    "plan graph": ["knitctl plan graph 3f2a -o mermaid", "knitctl plan graph 3f2a -d -n all -o json"],
    "run find": ["knitctl run find -s running", "knitctl run find --since 2h --planid 3f2a -o json"],
    "run show": ["knitctl run show 7c1e", "knitctl run show 7c1e --log -f"],
    "run stop": ["knitctl run stop 7c1e", "knitctl run stop 7c1e -x"],
    "run abort": ["knitctl run abort 7c1e"],
    "run retry": ["knitctl run retry 7c1e"],
    "run rm": ["knitctl run rm 7c1e"],
    "run log": ["knitctl run log 7c1e", "knitctl run log 7c1e -f"],
    "run wait": ["knitctl run wait 7c1e --timeout 10m && echo done"],
    "explain data": ["knitctl explain data 9dba68b5"],
    "explain plan": ["knitctl explain plan 3f2a"],
    "explain run": ["knitctl explain run 7c1e"],
    "watch ls": ["knitctl watch ls -o json"],
    "watch add": ["knitctl watch add ~/drops -t project:demo", "knitctl watch add ~/drops --copy --settle 10s"],
    "watch rm": ["knitctl watch rm ~/drops"],
    "context ls": ["knitctl context ls"],
    "context show": ["knitctl context show gpu-cluster"],
    "context use": ["knitctl context use gpu-cluster", "knitctl context use local"],
    "context add": ["knitctl context add gpu-cluster -n ml --kube-context prod"],
    "context rm": ["knitctl context rm gpu-cluster"],
    "context import-kube": ["knitctl context import-kube -n ml"],
    "metadata types": ["knitctl metadata types -o json"],
    "metadata artifacts": ["knitctl metadata artifacts -t Dataset -n 10", "knitctl metadata artifacts -f \"uri LIKE '/data/%'\""],
    "metadata executions": ["knitctl metadata executions -n 10 -o json"],
    "metadata contexts": ["knitctl metadata contexts"],
    "metadata lineage": ["knitctl metadata lineage 12 -d both -o mermaid"],
    "metadata import": ["knitctl metadata import ./mlmd.sqlite"],
    "metadata export": ["knitctl metadata export ./knit-mlmd.sqlite"],
}


def epilog(path: str) -> str | None:
    """The help's closing paragraph for a command path ("" is knitctl itself); kept as written (\\b)."""
    lines = EXAMPLES.get(path)
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines) if lines else None


def add_examples(app, path: str = "") -> None:
    """Give every command of the Typer app (and of its groups) its examples, where it has none."""
    info = getattr(app, "info", None)
    if path == "" and info is not None and not info.epilog:
        info.epilog = epilog("")
    for cmd in app.registered_commands:
        name = cmd.name or (cmd.callback.__name__.replace("_", "-") if cmd.callback else "")
        full = f"{path} {name}".strip()
        if not cmd.epilog:
            cmd.epilog = epilog(full)
    for group in app.registered_groups:
        add_examples(group.typer_instance, f"{path} {group.name}".strip())

"""mkdocs hooks for the generated reference pages.

1. Docstrings name other objects in Sphinx's way (``:func:`colorize_picture```,
   ``:class:`~colorizer.io.Picture```), which Markdown would print as it is: the role is dropped
   and the name kept as code (after ``~``, its last part only).
2. Keep the column-aligned examples of the CLI help (click's ``\\b`` paragraphs) as
they are in the generated CLI reference, instead of letting Markdown join their lines into one.

mkdocs-click writes each command's help text into the page as Markdown and drops click's ``\\b``
markers, so a paragraph laid out in columns (a run of three or more spaces inside one of its
lines) is what is left to recognise one by. Such a paragraph, outside code fences, becomes a
code block. Prose and fenced blocks are left alone.
"""

import re

from markdown import Extension
from markdown.preprocessors import Preprocessor

COLUMNS = re.compile(r"\S {3,}\S")
ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|exc|obj):`(~?)([^`]+)`")


def _drop_role(match: re.Match) -> str:
    name = match.group(2)
    return f"`{name.rsplit('.', 1)[-1] if match.group(1) else name}`"


def _is_columns(paragraph: list[str]) -> bool:
    if len(paragraph) < 2 or paragraph[0].startswith("    "):  # one line, or already code
        return False
    return any(COLUMNS.search(line) for line in paragraph)


class ColumnsVerbatim(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        out, paragraph, fenced = [], [], False

        def flush():
            if paragraph and _is_columns(paragraph):
                out.extend(["", *("    " + line for line in paragraph), ""])
            else:
                out.extend(paragraph)
            paragraph.clear()

        for line in lines:
            if line.lstrip().startswith(("```", "~~~")):
                flush()
                fenced = not fenced
                out.append(line)
            elif fenced:
                out.append(line)
            elif not line.strip():
                flush()
                out.append(line)
            else:
                paragraph.append(ROLE.sub(_drop_role, line))
        flush()
        return out


class ColumnsVerbatimExtension(Extension):
    def extendMarkdown(self, md):
        # after mkdocs-click (priority 141) has written the help texts into the page
        md.preprocessors.register(ColumnsVerbatim(md), "columns_verbatim", 140)


def on_config(config):
    config.markdown_extensions.append(ColumnsVerbatimExtension())
    return config

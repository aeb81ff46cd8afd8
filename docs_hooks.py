"""mkdocs hook: keep the column-aligned examples of the CLI help (click's ``\\b`` paragraphs) as
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
                paragraph.append(line)
        flush()
        return out


class ColumnsVerbatimExtension(Extension):
    def extendMarkdown(self, md):
        # after mkdocs-click (priority 141) has written the help texts into the page
        md.preprocessors.register(ColumnsVerbatim(md), "columns_verbatim", 140)


def on_config(config):
    config.markdown_extensions.append(ColumnsVerbatimExtension())
    return config

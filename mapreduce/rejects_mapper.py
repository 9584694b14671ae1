#!/usr/bin/env python3
"""Pass 4 (map-only): the reject JSON lines of pass 1, one object per line."""

import os
import sys

sys.path.insert(0, os.getcwd())  # -files links every shipped file into the task's cwd
import mrlib


def main() -> None:
    write = sys.stdout.write
    for text in mrlib.text_records():
        if text.startswith("R\t"):
            write(text[2:] + "\n")


if __name__ == "__main__":
    main()

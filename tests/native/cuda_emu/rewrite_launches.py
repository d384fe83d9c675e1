#!/usr/bin/env python3
"""rewrite_launches.py IN.cu OUT.cpp -- the one source change the CUDA emulator needs.

g++ cannot parse CUDA's launch syntax, so each
    KERNEL<<<CONFIG>>>(ARGS)
(KERNEL a possibly qualified name with template arguments) becomes
    ::es_emu::launch("KERNEL", ::es_emu::LaunchConfig(CONFIG),
                     [&](auto... es_emu_args) { KERNEL(es_emu_args...); }, ARGS)
The arguments are evaluated once, at the launch, as in CUDA; the lambda lets template
arguments of the kernel be deduced from them exactly as the <<<>>> call deduces them.
Everything else is copied verbatim, newlines included, and a #line directive names the
original file, so compiler messages point at cuda/*.cu lines.
"""
import sys


def match_back(text, end, open_ch, close_ch):
    """Index of the open_ch matching the close_ch at text[end]."""
    depth = 0
    for i in range(end, -1, -1):
        if text[i] == close_ch:
            depth += 1
        elif text[i] == open_ch:
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced %s%s before offset %d" % (open_ch, close_ch, end))


def match_forward(text, start, open_ch, close_ch):
    """Index of the close_ch matching the open_ch at text[start] (string literals skipped)."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c in "\"'":
            i += 1
            while text[i] != c:
                i += 2 if text[i] == "\\" else 1
        elif c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError("unbalanced %s%s after offset %d" % (open_ch, close_ch, start))


def rewrite(text, path):
    out = []
    pos = 0
    count = 0
    while True:
        lt = text.find("<<<", pos)
        if lt < 0:
            break
        line = text.count("\n", 0, lt) + 1
        # the kernel expression before <<<: name, then optional <template arguments>
        j = lt - 1
        while text[j].isspace():
            j -= 1
        if text[j] == ">":
            j = match_back(text, j, "<", ">") - 1
        while j >= 0 and (text[j].isalnum() or text[j] in "_:"):
            j -= 1
        start = j + 1
        kernel = text[start:lt].strip()
        if not kernel:
            raise ValueError("%s:%d: no kernel name before <<<" % (path, line))
        gt = text.find(">>>", lt)
        config = text[lt + 3:gt]
        k = gt + 3
        while text[k].isspace():
            k += 1
        if text[k] != "(":
            raise ValueError("%s:%d: expected ( after >>>" % (path, line))
        close = match_forward(text, k, "(", ")")
        args = text[k + 1:close]
        out.append(text[pos:start])
        out.append('::es_emu::launch("%s", ::es_emu::LaunchConfig(%s), '
                   "[&](auto... es_emu_args) { %s(es_emu_args...); }%s%s)"
                   % (" ".join(kernel.split()), config, kernel,
                      "," if args.strip() else "", args))
        # keep the line count: newlines between the kernel name and the argument list
        out.append("\n" * text.count("\n", lt, k))
        pos = close + 1
        count += 1
    out.append(text[pos:])
    return "".join(out), count


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        text = f.read()
    result, count = rewrite(text, src)
    with open(dst, "w") as f:
        f.write('#line 1 "%s"\n' % src)
        f.write(result)


if __name__ == "__main__":
    main()

"""Turn DOT source into SVG or PNG with a Graphviz program: ``dot``, or graphviz-pure's port of it.

Producing DOT needs neither; only pictures do. graphviz-pure (``pip install graphviz-pure``) installs
its ``dot`` as ``graphviz-pure`` so that it never shadows a system Graphviz; either is used.
"""
import shutil
import subprocess

PROGRAMS = ("dot", "graphviz-pure")

MISSING = ("rendering a graph to {format} needs Graphviz's 'dot' program, and neither 'dot' nor "
           "'graphviz-pure' is on PATH. Install one: `pip install graphviz-pure` (or `pip install "
           "ember[viz]`), or Graphviz itself (`apt-get install graphviz`, `brew install graphviz`). "
           "Without it, save the DOT source instead: graph.save('graph.dot').")


def dot_program():
    """Path of the first Graphviz program found on PATH, or None."""
    for name in PROGRAMS:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def render(source, format="svg"):
    """Lay out DOT ``source`` and return the picture as bytes in ``format`` ('svg', 'png', ...)."""
    program = dot_program()
    if program is None:
        raise RuntimeError(MISSING.format(format=format))
    result = subprocess.run([program, f"-T{format}"], input=source.encode(), capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"{program} -T{format} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout

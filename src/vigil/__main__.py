"""`python -m vigil`: the same CLI as the `vigil` script (how `vigil serve` starts its worker)."""

from vigil.cli.main import main

main()

"""`python -m vigil`: the same CLI as the `vigil` script (how `vigil serve` starts its worker).

`ingest-writer` goes straight to its lean entry point, without importing the CLI and the app
(`vigil.cli.ingest_writer`)."""

import sys

if sys.argv[1:2] == ["ingest-writer"]:
    from vigil.cli.ingest_writer import main as ingest_writer

    ingest_writer(sys.argv[2:])
else:
    from vigil.cli.main import main

    main()

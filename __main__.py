"""`python -m seqtk` (and `torchrun -m seqtk`) runs the same CLI as the `seqtk` script."""

from seqtk.core.cli import main

raise SystemExit(main())

import sys

from nas.cli.main import main

sys.exit(main())

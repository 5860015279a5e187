import sys

from pix2gan.cli import main

sys.exit(main())

import sys

from acme_aliyun.cli import main

sys.exit(main())

from srlm.cli import main

raise SystemExit(main())

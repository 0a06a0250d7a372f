from pushrestic.cli import main

raise SystemExit(main())

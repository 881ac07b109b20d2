from nsview.cli import main

raise SystemExit(main())

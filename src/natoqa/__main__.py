from natoqa.cli import main

main()

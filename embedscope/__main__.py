from embedscope.cli import main

main()

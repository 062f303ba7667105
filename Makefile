.PHONY: test
# test: the project's test command; installs swtpm & co. when run as root.
test:
	./scripts/test

.PHONY: test
# test: the project's test command; installs swtpm & co. when run as root.
test:
	./scripts/test

# deb: dist/tpmkeyd_<version>_<arch>.deb, reproducibly (packaging/README.md).
# The version is the top entry of packaging/debian/changelog.
.PHONY: deb
deb:
	./scripts/build-deb.sh

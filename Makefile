# The two set-up commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs bench clean catalogs

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# Until 0.1 the distribution was called `newsletter`: drop that install from an older .venv.
	$(BIN)/python -m pip uninstall --quiet --yes newsletter 2>/dev/null || true
	rm -f $(VENV)/wheelhouse/newsletter-*.whl
	rm -rf newsletter.egg-info  # its metadata, beside the package, would offer every plugin twice
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	# Wheels of the runtime dependencies, so the packaging test installs into a fresh venv offline.
	$(BIN)/python -m pip wheel --quiet -w $(VENV)/wheelhouse .
	touch $(STAMP)

# Exit 3 is "already sent": a second `make demo` says so and is not an error.
demo: $(STAMP)
	$(BIN)/newsletter run --demo || [ $$? -eq 3 ]

test: $(STAMP)
	$(BIN)/ruff check newsletter tests benchmarks
	$(MAKE) --no-print-directory docs
	$(BIN)/python -m pytest

# The manual (docs/, mkdocs.yml), built strictly into a temporary folder: a broken link fails.
docs: $(STAMP)
	@site=$$(mktemp -d) && trap 'rm -rf "$$site"' EXIT && $(BIN)/mkdocs build --strict --site-dir "$$site"

# The message catalogs (docs/languages.md): every built-in string extracted into messages.pot, each
# language's .po updated (new messages left empty, for a translator), compiled to the .mo the package
# ships; then the completeness test says which messages still need a translation.
LANGUAGES := de fr es
LOCALE := newsletter/locale
catalogs: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k N_plural:1,2 --add-location=file --sort-by-file --no-wrap \
		--project=newsletter --copyright-holder="newsletter authors" -o $(LOCALE)/messages.pot .
	for lang in $(LANGUAGES); do \
		test -f $(LOCALE)/$$lang/LC_MESSAGES/messages.po \
			|| $(BIN)/pybabel -q init --no-wrap -D messages -i $(LOCALE)/messages.pot -d $(LOCALE) -l $$lang; \
	done
	$(BIN)/pybabel -q update --no-wrap --no-fuzzy-matching --ignore-obsolete -D messages \
		-i $(LOCALE)/messages.pot -d $(LOCALE)
	$(BIN)/pybabel compile --statistics -D messages -d $(LOCALE)
	$(BIN)/python -m pytest -q tests/test_languages.py -k complete

lint: $(STAMP)
	$(BIN)/ruff check newsletter tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info .newsletter-demo .pytest_cache site

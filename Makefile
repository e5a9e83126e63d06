# statuspage-operator: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE := .cluster
LOCAL_KUBECONFIG := $(CURDIR)/$(STATE)/kubeconfig
SERVER_PORT ?= 8080
# `make run`'s sign-up process and the local stand-in for a mail relay (.cluster/mail.log)
SIGNUP_PORT ?= 8081
MAIL_PORT ?= 8025
SIGNUP_URL := http://127.0.0.1:$(SIGNUP_PORT)
MAIL_FLAGS := --mail-secret=statuspage-signups/statuspage-mail-relay \
  --subscription-key-secret=statuspage-signups/statuspage-subscription-key
# `make image`: the tag it gets, and its base (empty: the Dockerfile's; debian: built offline)
IMAGE ?= ghcr.io/statuspage-operator/statuspage-operator:0.1.0
PYTHON_IMAGE ?=
export PYTHONPATH := $(CURDIR)/tests

.PHONY: help install controlplane alertmanager browser nginx lint test test-unit test-e2e verify run cluster-up cluster-down bench docs image

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/.installed ## Create .venv and install the package with its dev tools

controlplane: ## Build etcd, kube-apiserver, kube-controller-manager (cached in ~/.cache; first time ~9 min)
	@bash tests/controlplane/build.sh >/dev/null

alertmanager: ## Build Prometheus Alertmanager for the e2e tests and benches (cached in ~/.cache; first time ~2 min)
	@bash tests/alertmanager/build.sh >/dev/null

browser: ## Debian's chromium and chromedriver for the browser test (installed only when missing)
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }

nginx: ## Debian's nginx (with auth_request) for the private-page test behind a real proxy (installed only when missing)
	@test -x /usr/sbin/nginx || { \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx; }

lint: install ## ruff, ruff format, mypy strict, import-linter
	$(BIN)/ruff check operator tests
	$(BIN)/ruff format --check operator tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install controlplane alertmanager browser nginx ## All tests: unit and e2e against the local control plane (the README's test command)
	$(BIN)/pytest tests

test-unit: install ## Unit tests only (no cluster)
	$(BIN)/pytest tests/unit

test-e2e: install controlplane alertmanager browser nginx ## End-to-end tests only
	$(BIN)/pytest tests/e2e

verify: lint test ## Everything CI runs

cluster-up: install controlplane ## Start the local control plane in the background (.cluster/kubeconfig)
	$(BIN)/python -m controlplane up --state $(STATE)

cluster-down: install ## Stop the local control plane and remove its files
	$(BIN)/python -m controlplane down --state $(STATE)

run: install ## Run the operator, the public page, the sign-up form and a local mail catcher: on the cluster in KUBECONFIG if set, else on the local control plane with the sample page
	@if [ -z "$$KUBECONFIG" ]; then \
	  $(MAKE) --no-print-directory cluster-up && export KUBECONFIG=$(LOCAL_KUBECONFIG); \
	  echo "using the local control plane: export KUBECONFIG=$(LOCAL_KUBECONFIG)"; \
	else echo "using KUBECONFIG=$$KUBECONFIG"; fi; \
	$(BIN)/kubectl apply -k crds && \
	$(BIN)/kubectl wait --for=condition=Established --timeout=60s crd/statuspages.statuspage.dev crd/components.statuspage.dev crd/maintenancewindows.statuspage.dev crd/statusincidents.statuspage.dev crd/subscribers.statuspage.dev crd/publicationpolicies.statuspage.dev && \
	namespace=$$($(BIN)/kubectl config view --minify -o jsonpath='{..namespace}') && \
	SAMPLES_NAMESPACE=$${namespace:-default} manifests/samples-now/times.sh && $(BIN)/kubectl apply -k manifests/samples-now && \
	KUBECTL=$(BIN)/kubectl MAIL_PORT=$(MAIL_PORT) manifests/samples-now/signup.sh && \
	mkdir -p $(STATE) && pids= && trap 'kill $$pids 2>/dev/null' EXIT && \
	{ $(BIN)/python -m aiosmtpd -n -l 127.0.0.1:$(MAIL_PORT) -c tools.maillog.Printer $(STATE)/mail.log \
	    >$(STATE)/relay.log 2>&1 & } && pids="$$pids $$!" && \
	{ $(BIN)/statuspage-signup --host=127.0.0.1 --port=$(SIGNUP_PORT) --metrics-port=0 \
	    --public-url=$(SIGNUP_URL) $(MAIL_FLAGS) >$(STATE)/signup.log 2>&1 & } && pids="$$pids $$!" && \
	{ $(BIN)/statuspage-server --host=127.0.0.1 --port=$(SERVER_PORT) --metrics-port=0 \
	    --signup-url=$(SIGNUP_URL) >$(STATE)/server.log 2>&1 & } && pids="$$pids $$!" && \
	echo "public page: http://127.0.0.1:$(SERVER_PORT)/$${namespace:-default}/example/ (server log: $(STATE)/server.log)" && \
	echo "sign-up: $(SIGNUP_URL) (log: $(STATE)/signup.log); mail sent: $(STATE)/mail.log" && \
	$(BIN)/statuspage-operator --signup-url=$(SIGNUP_URL) $(MAIL_FLAGS)

docs: install ## Write docs/reference.md from the CRDs (tests/tools/reference.py)
	$(BIN)/python tests/tools/reference.py

bench: install controlplane alertmanager ## Benchmarks against the local control plane; prints figures
	$(BIN)/python tests/bench/recurrence.py
	$(BIN)/python tests/bench/run.py
	$(BIN)/python tests/bench/held.py
	$(BIN)/python tests/bench/server.py
	$(BIN)/python tests/bench/server_load.py
	$(BIN)/python tests/bench/server_audience.py
	$(BIN)/python tests/bench/notify.py
	$(BIN)/python tests/bench/plugin.py
	$(BIN)/python tests/bench/alerts.py
	$(BIN)/python tests/bench/mail.py
	$(BIN)/python tests/bench/signup.py
	$(BIN)/python tests/bench/stall.py

image: install ## Build the container image with buildah, cached (PYTHON_IMAGE=debian: offline base; docs/image.md)
	@IMAGE='$(IMAGE)' PYTHON_IMAGE='$(PYTHON_IMAGE)' HOST_PYTHON=$(CURDIR)/$(BIN)/python bash tests/image/build.sh

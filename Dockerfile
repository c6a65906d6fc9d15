# The appraisal image: the Temporal worker by default; the same image runs the postal
# emulator and the HTTP gateway with another command, see docker-compose.yml.
#
#   docker build -t appraisal-cases:local .
#   docker run --rm appraisal-cases:local appraisal --help

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with the project and its runtime dependencies (no dev extras) ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone: editing the code does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The project itself. A new top-level package must be listed here and in pyproject.toml.
COPY worker.py ./
COPY workflows ./workflows
COPY activities ./activities
COPY starter ./starter
COPY schemas ./schemas
COPY infra ./infra
COPY postal_emulator ./postal_emulator
COPY gateway ./gateway
RUN pip install --no-deps .

# --- runtime ---
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 appraisal \
    && useradd --system --uid 10001 --gid appraisal --no-create-home --home-dir /app \
       --shell /usr/sbin/nologin appraisal \
    && install -d -o appraisal -g appraisal /var/lib/appraisal

# The conclusion letter's fonts (Debian fonts-noto-cjk, fonts-wqy-zenhei behind it, and
# fonts-hanazono for the rare ideographs of some names; about 160 MB): the image refuses to
# build without them.
COPY deploy/install-cjk-font.sh /tmp/install-cjk-font.sh
RUN sh /tmp/install-cjk-font.sh --require && rm -rf /var/lib/apt/lists/* /tmp/install-cjk-font.sh

COPY --from=build /opt/venv /opt/venv
# `python worker.py` is the documented entry point (the module is installed too). /app
# stays owned by root; the only place the process may write is DATA_DIR (and /tmp).
WORKDIR /app
COPY worker.py ./
# Deadline policy, session plan, holiday schedules and the pool policy: mount over /app/config
# to change them. MPLCONFIGDIR: matplotlib's font cache (`stats --report`) where the process may
# write (/app is not), else it warns on stderr at every report.
COPY config ./config

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_JSON=true \
    DATA_DIR=/var/lib/appraisal \
    POLICY_FILE=/app/config/deadline_policy.toml \
    SESSIONS_FILE=/app/config/sessions.toml \
    HOLIDAY_SCHEDULE_DIR=/app/config/holidays \
    POOL_POLICY_FILE=/app/config/pool_policy.toml \
    MPLCONFIGDIR=/var/lib/appraisal/matplotlib

USER appraisal
CMD ["python", "worker.py"]

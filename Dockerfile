# One image for every cxloop process; docker-compose.yml's `command` picks one:
# the API (the default below), the worker (`python worker.py`), the read model's
# migrations (`python -m store.db upgrade <url>`) or the mail sink.
# The Python the test suite runs on.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# cxloop runs as this user, never as root; /var/lib/cxloop is where it may
# write (the mail sink's Maildir, on a volume that takes this owner).
RUN useradd --create-home --uid 10001 cxloop \
    && install -d -o cxloop -g cxloop /var/lib/cxloop

WORKDIR /app

# The dependencies first, read from pyproject.toml alone: a change to the code
# then rebuilds only the layers below this one.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# What pyproject.toml installs: the top-level modules (worker.py, settings.py,
# ...) and the packages; README.md is its readme.
COPY README.md *.py ./
COPY domain/ domain/
COPY workflows/ workflows/
COPY activities/ activities/
COPY store/ store/
COPY api/ api/
COPY deploy/worker_health.py deploy/
RUN pip install --no-deps . && rm -rf build *.egg-info

USER cxloop
EXPOSE 8000
CMD ["uvicorn", "api.app:app", "--host", "0.0.0.0", "--port", "8000"]

FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY dialplans ./dialplans
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 bridge \
    && mkdir -p /app/var && chown bridge /app/var

USER bridge
EXPOSE 8080
CMD ["bridge", "serve", "--host", "0.0.0.0", "--port", "8080"]

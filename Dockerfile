# One image for every Switchyard role in docker-compose.yml: controller, agent, CLI, the sample
# color app and the seed step; the command picks the role. Build: docker build -t switchyard .
# Node 24 is an LTS line (supported to April 2028); Node 20 reached its end of life in April 2026.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# pnpm at exactly the packageManager version of package.json (a test keeps the two equal). npm,
# not corepack: corepack's signature check fails against some registries.
RUN npm install -g --no-fund --no-audit pnpm@10.34.9

# Layer order for the cache: manifests and lockfile, install, then sources and build. A source
# change reuses the installed dependencies; only a manifest or lockfile change reinstalls.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/agent/package.json packages/agent/
COPY packages/bench/package.json packages/bench/
COPY packages/cli/package.json packages/cli/
COPY packages/controller/package.json packages/controller/
COPY packages/e2e/package.json packages/e2e/
COPY packages/shared/package.json packages/shared/
COPY packages/testkit/package.json packages/testkit/
RUN pnpm install --frozen-lockfile

COPY tsconfig.base.json ./
COPY packages packages
# Only what runs in the image (and what it depends on: the trailing "...").
RUN pnpm --filter "@switchyard/controller..." --filter "@switchyard/agent..." --filter "@switchyard/cli..." run build
# Production dependencies only, one self-contained directory per role, laid out as in the repo so
# the commands are the same (packages/<role>/dist/main.js). Injected for the deploy only: the
# workspace itself keeps symlinked packages.
RUN for role in controller agent cli; do \
      pnpm --filter "@switchyard/$role" --config.inject-workspace-packages=true deploy --prod "/out/packages/$role" || exit 1; \
    done

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /out/ ./
COPY examples examples
# The agents' state directory (AGENT_STATE_DIR); a named volume mounted here starts with this
# ownership, so the unprivileged user can write the last good table.
RUN mkdir -p /var/lib/switchyard && chown node:node /var/lib/switchyard
USER node
CMD ["node", "packages/controller/dist/main.js"]

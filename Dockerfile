# One image for every Switchyard role in docker-compose.yml: controller, agent, the sample
# color app and the seed step; the command picks the role. Build: docker build -t switchyard .
FROM node:20-bookworm-slim AS build
WORKDIR /app
# corepack's signature check fails against some registries; npm is the documented route.
RUN npm i -g pnpm@10
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml tsconfig.base.json ./
COPY packages packages
RUN pnpm install --frozen-lockfile
RUN pnpm build

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
COPY examples examples
USER node
CMD ["node", "packages/controller/dist/main.js"]

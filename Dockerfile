# syntax=docker/dockerfile:1
# Build stage: dev dependencies, TypeScript compile.
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Runtime stage: production dependencies and compiled code only, as the unprivileged node user.
FROM node:24-slim
ENV NODE_ENV=production \
    STICKYLB_CONFIG=/etc/stickylb/config.yaml
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY config/stickylb.example.yaml /etc/stickylb/example.yaml
USER node
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM (graceful shutdown) and SIGHUP (reload) directly.
ENTRYPOINT ["node", "/app/dist/cli.js"]

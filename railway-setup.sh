#!/usr/bin/env bash
# The runbook's steps 2-4 as one reviewed script: PostgreSQL, Redis, the four services and
# the variables they share, with the secrets generated here (the runbook's `openssl rand`).
# Run it once per Railway environment, after `railway login` and `railway link`:
#
#   ./railway-setup.sh
#
# Then set the operator's values (provider keys, RPC URLs, contract addresses, the wallet key;
# docs/RUNBOOK.md, "Variables") and deploy. WALLET_PRIVATE_KEY, if exported when the script
# runs, is set on the sender (only there) as well. How each service is built and started is not
# here: that is railway.toml, railway.listener.toml, railway.cron.toml and railway.sender.toml.
#
# The same values go to every service (the Railway CLI sets service variables), except the
# platform wallet's key: the sender alone signs, so only the sender gets it (least privilege;
# `check --deploy` on any other service reports it). Railway's shared variables would give it
# to every service, so none are used. Secrets are passed on stdin, never on a
# command line where `ps` would show them. RAILWAY names the CLI (default: railway).
set -euo pipefail

railway=${RAILWAY:-railway}
readonly services=(web listener cron sender)

"$railway" add --database postgres --database redis
for service in "${services[@]}"; do
  "$railway" add --service "$service"
done

# The runbook's values, under the runbook's names. DATABASE_URL and REDIS_URL are Railway
# references to the two databases, resolved by Railway at deploy time (single quotes: literal);
# the *_PUBLIC_URL ones are the databases' TCP proxy, for `railway run` on another machine
# (`dpo --public-urls`, docs/RUNBOOK.md, "One-off commands").
# shellcheck disable=SC2016
readonly settings=(
  ENVIRONMENT=production
  DEBUG=False
  ALLOWED_HOSTS=.railway.app
  SECURE_SSL_REDIRECT=True
  SECURE_HSTS_SECONDS=31536000
  'CORS_ALLOWED_ORIGINS=https://www.directprivateoffers.net,https://directprivateoffers.net'
  OMNISEND_API_BASE=https://api.omnisend.com/v3
  DEFAULT_FROM_EMAIL=noreply@dtcc-sto.com
  BILLBITTS_API_URL=https://api.billbitcoins.com
  BLOCKCHAIN_NETWORK=arbitrum-nova
  EUROCLEAR_API_BASE=https://api.euroclear.com
  EUROCLEAR_TIMEOUT=30
  CLEARSTREAM_PMI_BASE=https://api.clearstream.com
  CLEARSTREAM_TIMEOUT=30
  XETRA_API_BASE=https://api.xetra.com
  XETRA_TIMEOUT=30
  RATE_LIMIT_USER=100/min
  RATE_LIMIT_ANON=20/min
  'DATABASE_URL=${{Postgres.DATABASE_URL}}'
  'REDIS_URL=${{Redis.REDIS_URL}}'
  'DATABASE_PUBLIC_URL=${{Postgres.DATABASE_PUBLIC_URL}}'
  'REDIS_PUBLIC_URL=${{Redis.REDIS_PUBLIC_URL}}'
)
readonly secrets=(DJANGO_SECRET_KEY WEBHOOK_SECRET API_HMAC_SECRET)

declare -A generated=()
for name in "${secrets[@]}"; do
  generated[$name]=$(openssl rand -hex 32)
done

for service in "${services[@]}"; do
  "$railway" variable set --service "$service" --skip-deploys "${settings[@]}"
  for name in "${secrets[@]}"; do
    printf '%s' "${generated[$name]}" |
      "$railway" variable set --service "$service" --skip-deploys "$name" --stdin
  done
done

if [[ -n "${WALLET_PRIVATE_KEY-}" ]]; then
  printf '%s' "$WALLET_PRIVATE_KEY" |
    "$railway" variable set --service sender --skip-deploys WALLET_PRIVATE_KEY --stdin
  wallet="set on the sender"
else
  wallet="not set: set it on the sender only"
fi

echo "Created PostgreSQL, Redis and the services ${services[*]} with their variables."
echo "WALLET_PRIVATE_KEY: $wallet."
echo "Next: the operator's values (docs/RUNBOOK.md, \"Variables\"), then deploy."

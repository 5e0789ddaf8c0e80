DROP TABLE market_version;

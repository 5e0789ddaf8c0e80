DROP TABLE ern_releases;

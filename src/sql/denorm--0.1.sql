-- denorm 0.1 install script
\echo Use "CREATE EXTENSION denorm" to load this file. \quit

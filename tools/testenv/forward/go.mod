module kafka-advertiser/testenv/forward

go 1.26
